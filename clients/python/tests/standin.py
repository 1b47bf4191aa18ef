"""A local stand-in HTTP server for the client's offline tests (no ReconService needed)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StandInHandler(BaseHTTPRequestHandler):
    """A quiet handler with one way to answer."""

    def log_message(self, *args):
        pass

    def send(self, status: int, kind: str, payload: bytes, headers: dict | None = None):
        """Answers ``status`` with ``payload`` as ``kind``, a Content-Length and ``headers``."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class StandInServer:
    """Serves ``handler`` (a StandInHandler subclass) on a free loopback port in a daemon thread until ``close``."""

    def __init__(self, handler: type[StandInHandler]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
