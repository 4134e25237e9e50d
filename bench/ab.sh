#!/usr/bin/env bash
# A/B of the durable-accept rate: an older commit against this checkout, on
# one machine in one run, taking turns so that a change in the disk's speed
# during the run falls on both sides alike.
#
#   bench/ab.sh OLD_COMMIT [-n PAIRS] [ingest.sh arguments...]
#
# Checks OLD_COMMIT out beside this checkout (so that ../shared is found from
# both), then runs `bench/ingest.sh ARGS` PAIRS times (default 3) in each
# tree, old first, and prints every ratio against Postfix and the median of
# each side. Each run measures its own Postfix, so the two columns are
# comparable even when the machine's speed moves between runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
old=${1:?usage: bench/ab.sh OLD_COMMIT [-n PAIRS] [ingest.sh arguments...]}
shift
pairs=3
if [ "${1:-}" = -n ]; then pairs=$2; shift 2; fi
tree=$(dirname "$root")/.ab-$(git -C "$root" rev-parse --short "$old")
[ -d "$tree" ] || git -C "$root" worktree add -q --detach "$tree" "$old"
trap 'git -C "$root" worktree remove --force "$tree"' EXIT

# ratio runs ingest.sh in tree $1, shows its output on stderr, and prints
# its ratio.
ratio() {
  local out
  out=$(cd "$1" && bench/ingest.sh "${@:2}" 2>&1) || true
  printf '%s\n' "$out" >&2
  sed -n 's/^ratio=//p' <<<"$out"
}
median() { sort -g | awk '{a[NR]=$1} END{ if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

A=(); B=()
for ((i = 1; i <= pairs; i++)); do
  a=$(ratio "$tree" "$@"); b=$(ratio "$root" "$@")
  echo "pair $i: $old=$a  $(git -C "$root" rev-parse --short HEAD)=$b"
  A+=("$a"); B+=("$b")
done
echo "ingest.sh $*"
echo "old $old median ratio=$(printf '%s\n' "${A[@]}" | median)"
echo "new $(git -C "$root" rev-parse --short HEAD) median ratio=$(printf '%s\n' "${B[@]}" | median)"
