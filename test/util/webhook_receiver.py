#!/usr/bin/env python3
"""A webhook receiver for the integration scripts: listens on 127.0.0.1:PORT,
checks each POST's Standard Webhooks signature with the verify() function
README's "Webhooks" prints (VERIFY_PY, extracted from README by the script),
and appends each verified delivery to OUT as one JSON line
{"id", "signatures", "body"}. The first FAIL_FIRST requests get 500, to
show the retry; a bad signature gets 401.

Usage: webhook_receiver.py PORT SECRET OUT VERIFY_PY [FAIL_FIRST]
"""
import http.server
import json
import sys

port, secret, out, verify_py = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
fail_first = int(sys.argv[5]) if len(sys.argv) > 5 else 0
scope = {}
exec(open(verify_py).read(), scope)
verify = scope["verify"]
seen = {"requests": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        seen["requests"] += 1
        if seen["requests"] <= fail_first:
            self.send_response(500)
            self.end_headers()
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not verify(secret, headers, body):
            self.send_response(401)
            self.end_headers()
            return
        with open(out, "a") as f:
            f.write(json.dumps({"id": headers["webhook-id"], "signatures": headers["webhook-signature"],
                                "body": json.loads(body)}) + "\n")
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
