"""An HTTP handler that forwards every request to a Prefect API, optionally after a delay: shared by the
TLS proxy of the tests (tls_proxy.py) and the round-trip benchmark (scripts/bench.py)."""

import http.server
import socketserver
import time
import urllib.error
import urllib.request


def handler(upstream, delay=0.0):
    """A handler class forwarding `/api/...` to `upstream` (which ends in /api), waiting `delay` s first."""
    base = upstream.rstrip("/")

    class Forward(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self):
            if delay:
                time.sleep(delay)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            path = self.path[len("/api"):] if self.path.startswith("/api") else self.path
            req = urllib.request.Request(base + path, data=body, method=self.command, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    status, payload, ctype = resp.status, resp.read(), resp.headers.get("content-type", "application/json")
            except urllib.error.HTTPError as e:
                status, payload, ctype = e.code, e.read(), e.headers.get("content-type", "application/json")
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _forward
        do_POST = _forward

        def log_message(self, *args):
            pass

    return Forward


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
