"""A throw-away HTTP file server on 127.0.0.1 for the download tests (see conftest.server).

Each test declares what it serves at which URL path:

* ``bytes``: a 200 response with that body and its ``Content-Length``;
* ``Truncated(body, keep)``: announces ``len(body)`` bytes, sends ``keep`` of them, then closes
  the connection (a transfer cut mid-way);
* an ``int``: that HTTP status with an empty body (404, 500, ...).

Unlisted paths answer 404. Every request path is recorded in ``server.hits``, and the request
headers in ``server.headers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Truncated:
    body: bytes
    keep: int


class _Handler(BaseHTTPRequestHandler):
    server: FileServer

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.server.headers.append(dict(self.headers))
        answer = self.server.routes.get(self.path, 404)
        if isinstance(answer, int):
            self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = answer.body[: answer.keep] if isinstance(answer, Truncated) else answer
        full = len(answer.body) if isinstance(answer, Truncated) else len(answer)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(full))
        self.end_headers()
        self.wfile.write(body)
        if isinstance(answer, Truncated):
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, bytes | Truncated | int] = {}
        self.hits: list[str] = []
        self.headers: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"
