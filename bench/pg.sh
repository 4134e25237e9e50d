# Sourced by the bench scripts: with SIGILL_BENCH_STORE=postgres, start a
# throwaway PostgreSQL cluster (Debian's postgresql package; initdb and
# pg_ctl, as the postgres user when run as root) in a temporary folder on
# 127.0.0.1:$pg_port, with the server's defaults kept: fsync and
# synchronous_commit on. Sets store_args for `sigill dev` and registers
# pg_stop for the caller's exit trap.
store_args=()
pg_stop() { :; }
if [ "${SIGILL_BENCH_STORE:-}" = postgres ]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$pgbin/initdb" ] || { echo "SIGILL_BENCH_STORE=postgres needs PostgreSQL: apt-get install postgresql" >&2; exit 2; }
  pg_port=${pg_port:-25432}
  pgdir=$(mktemp -d)
  as=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$pgdir"; as=(runuser -u postgres --); fi
  "${as[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U sigill >/dev/null
  "${as[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -o "-p $pg_port -k $pgdir -c listen_addresses=127.0.0.1" -l "$pgdir/log" -w start >/dev/null
  "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U sigill sigill
  store_args=(-store "postgres://sigill@127.0.0.1:$pg_port/sigill")
  pg_stop() { "${as[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m fast stop >/dev/null 2>&1; rm -rf "$pgdir"; }
  echo "store: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$pg_port (fsync and synchronous_commit on)"
fi
