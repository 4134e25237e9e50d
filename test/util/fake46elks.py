#!/usr/bin/env python3
"""A fake 46elks SMS API for the integration scripts (Python 3 stdlib only).

It answers POST /a1/sms over HTTPS as 46elks does: Basic auth with the API
username and password (401 otherwise), a form body of from, to, message and
an optional whendelivered, answered 200 with the JSON of the created SMS.
Each SMS it accepts is appended to --out as one JSON line, and it prints
"listening on HOST:PORT" once it accepts connections.

GET /a1/sms is 46elks' log of sent SMS (https://46elks.com/docs/sms-history):
newest first, filtered by to, start (SMS created at or before it) and end
(at or after it), at most limit (1-100, default 100) a page, as
{"data": [...], "next": "<created of the next, older SMS>"} with "next" only
when more remain. Times are UTC as 46elks writes them,
2018-02-14T09:52:07.302000.

For crash tests: --answer-delay holds each answer that long after the SMS
is taken (a client killed meanwhile never hears of it), and GET /fake/stats
(no auth) answers {"sms": N, "duplicates": D}, D counting SMS whose
recipient and text an earlier SMS already had.

    fake46elks.py --listen 127.0.0.1:8444 --cert server.pem --key server.key \
        --user u123 --password-file sms-password --out sms.jsonl
"""

import argparse
import base64
import hmac
import json
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT, e.g. 127.0.0.1:8444")
    ap.add_argument("--cert", required=True, help="PEM certificate chain")
    ap.add_argument("--key", required=True, help="PEM private key")
    ap.add_argument("--user", required=True, help="the API username sigill must send")
    ap.add_argument("--password-file", required=True, help="file holding the API password (one line)")
    ap.add_argument("--out", required=True, help="each SMS is appended here as a JSON line")
    ap.add_argument("--answer-delay", type=float, default=0, help="seconds to hold each answer after the SMS is taken")
    args = ap.parse_args()

    with open(args.password_file, encoding="utf-8") as f:
        password = f.read().rstrip("\r\n")
    expected = "Basic " + base64.b64encode(f"{args.user}:{password}".encode()).decode()
    lock = threading.Lock()
    log = []  # every SMS taken, oldest first, as GET /a1/sms shows it
    seen = set()  # (to, message) of every SMS taken
    duplicates = 0

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, status, body, content_type="application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="46elks API"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/fake/stats":
                with lock:
                    return self.answer(200, json.dumps({"sms": len(log), "duplicates": duplicates}))
            if url.path != "/a1/sms":
                return self.answer(404, "Not found", "text/plain")
            if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                return self.answer(401, "Requires authentication", "text/plain")
            q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            try:
                start = parse_time(q["start"]) if "start" in q else None
                end = parse_time(q["end"]) if "end" in q else None
                limit = int(q.get("limit", "100"))
            except ValueError as e:
                return self.answer(400, f"Bad parameter: {e}", "text/plain")
            if not 1 <= limit <= 100:
                return self.answer(400, "Bad limit", "text/plain")
            with lock:
                match = [
                    sms for sms in reversed(log)
                    if ("to" not in q or sms["to"] == q["to"])
                    and (start is None or parse_time(sms["created"]) <= start)
                    and (end is None or parse_time(sms["created"]) >= end)
                ]
            page = {"data": match[:limit]}
            if len(match) > limit:
                page["next"] = match[limit]["created"]
            self.answer(200, json.dumps(page, ensure_ascii=False))

        def do_POST(self):
            nonlocal duplicates
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            if urllib.parse.urlsplit(self.path).path != "/a1/sms":
                return self.answer(404, "Not found", "text/plain")
            if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                return self.answer(401, "Requires authentication", "text/plain")
            form = urllib.parse.parse_qs(body, keep_blank_values=True)
            sms = {k: v[0] for k, v in form.items()}
            for key in ("from", "to", "message"):
                if not sms.get(key):
                    return self.answer(400, f"Missing key {key}", "text/plain")
            unknown = set(sms) - {"from", "to", "message", "whendelivered", "dryrun", "flashsms"}
            if unknown:
                return self.answer(400, f"Unknown key {sorted(unknown)[0]}", "text/plain")
            sms_id = "s" + secrets.token_hex(16)
            answer = {
                "id": sms_id,
                "status": "created",
                "direction": "outgoing",
                "created": None,  # when it joins the log, which stays in created order
                "from": sms["from"],
                "to": sms["to"],
                "message": sms["message"],
                "parts": 1,
                "cost": 3500,  # 46elks counts in 10000ths of the currency
            }
            with lock, open(args.out, "a", encoding="utf-8") as out:
                out.write(json.dumps(dict(sms, id=sms_id), ensure_ascii=False) + "\n")
                answer["created"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
                log.append(answer)
                if (sms["to"], sms["message"]) in seen:
                    duplicates += 1
                seen.add((sms["to"], sms["message"]))
            if args.answer_delay:
                time.sleep(args.answer_delay)
            self.answer(200, json.dumps(answer, ensure_ascii=False))

        def log_message(self, fmt, *a):
            sys.stderr.write("fake46elks: " + (fmt % a) + "\n")

    host, port = args.listen.rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def parse_time(s):
    """A time as 46elks writes it (UTC, no zone), with or without fractions."""
    for layout in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(s, layout)
        except ValueError:
            pass
    raise ValueError(f"not a time: {s!r}")


if __name__ == "__main__":
    main()
