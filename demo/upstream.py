#!/usr/bin/env python3
"""A stand-in for the API gateway: a small threaded HTTP/1.1 server for `make demo`.

Routes: GET / (JSON greeting with the forwarding headers it received), POST /jobs (counts the
body), GET /bytes/<n> (n bytes, streamed), GET /slow/<ms>.
"""
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Gateway(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/bytes/"):
            n = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"x" * 65536
            while n > 0:
                self.wfile.write(chunk[: min(n, len(chunk))])
                n -= min(n, len(chunk))
            return
        if self.path.startswith("/slow/"):
            time.sleep(int(self.path.split("/")[2]) / 1000)
            self.reply(200, json.dumps({"slept_ms": int(self.path.split("/")[2])}) + "\n")
            return
        seen = {k: v for k, v in self.headers.items() if k.lower().startswith("x-")}
        self.reply(200, json.dumps({"hello": "from the gateway", "path": self.path, "headers": seen}) + "\n")

    do_HEAD = do_GET

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        received = 0
        while received < length:
            chunk = self.rfile.read(min(65536, length - received))
            if not chunk:
                break
            received += len(chunk)
        self.reply(201, json.dumps({"job": "accepted", "bytes": received}) + "\n")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    ThreadingHTTPServer(("127.0.0.1", port), Gateway).serve_forever()
