#!/usr/bin/env python3
"""What sigill does while a load runs against it: bench/ingest.sh starts this
beside compare-ingest.sh and stops it with SIGTERM afterwards.

    sample.py PID ADMIN_URL [PROFILE_FILE TOKEN SECONDS]

Every 0.25 s it reads sigill's /metrics (messages accepted, the vault's group
committer) and its RSS from /proc/PID/status. Postfix and sigill take turns in
compare-ingest.sh, so only the intervals in which sigill accepted messages
count. On SIGTERM it prints, over those intervals: the median and peak RSS,
the committer's busy share, the requests per store commit and the mean commit
time. With PROFILE_FILE it saves a CPU profile of SECONDS, started when the
second period of load begins (the first is compare-ingest.sh's warm-up).
"""
import signal
import statistics
import sys
import threading
import time
import urllib.request

pid, admin = sys.argv[1], sys.argv[2]
profile = sys.argv[3:6]

WANTED = {
    "sigill_smtp_messages_accepted_total": "accepted",
    "sigill_vault_committer_busy_seconds_total": "busy",
    "sigill_vault_commit_seconds_count": "commits",
    "sigill_vault_commit_seconds_sum": "commit_s",
    "sigill_vault_requests_per_commit_sum": "requests",
}


def sample():
    got = dict.fromkeys(WANTED.values(), 0.0)
    with urllib.request.urlopen(admin + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("#"):
                continue
            name, _, value = line.rpartition(" ")
            key = WANTED.get(name.split("{")[0])
            if key:
                got[key] += float(value)
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                got["rss_mb"] = int(line.split()[1]) / 1024
            if line.startswith("VmHWM:"):
                got["peak_mb"] = int(line.split()[1]) / 1024
    got["t"] = time.monotonic()
    return got


def take_profile():
    path, token, seconds = profile
    req = urllib.request.Request(f"{admin}/debug/pprof/profile?seconds={seconds}",
                                 headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=int(seconds) + 30) as r, open(path, "wb") as f:
        f.write(r.read())


stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
loaded = []  # (previous, current) sample pairs in which sigill accepted mail
periods, was_loaded, profiler = 0, False, None
prev = sample()
while not stop.wait(0.25):
    try:
        cur = sample()
    except OSError:
        break  # sigill has gone
    is_loaded = cur["accepted"] > prev["accepted"]
    if is_loaded and not was_loaded:
        periods += 1
        if profile and periods == 2 and profiler is None:
            profiler = threading.Thread(target=take_profile)
            profiler.start()
    was_loaded = is_loaded
    if is_loaded:
        loaded.append((prev, cur))
    prev = cur
if profiler:
    profiler.join()
if not loaded:
    print("sample.py: sigill accepted nothing while sampled")
    sys.exit(0)


def delta(key):
    return sum(c[key] - p[key] for p, c in loaded)


span = sum(c["t"] - p["t"] for p, c in loaded)
commits = delta("commits")
print("sigill under load (%.1f s of it): RSS median %.0f MB, peak %.0f MB; committer busy %.0f%%; "
      "%.1f requests per commit; %.2f ms per store commit"
      % (span, statistics.median(c["rss_mb"] for _, c in loaded), prev["peak_mb"],
         100 * delta("busy") / span, delta("requests") / max(commits, 1),
         1000 * delta("commit_s") / max(commits, 1)))
