"""A real HTTP/1.1 server on 127.0.0.1 for tests: serves files, and misbehaves on request.

``ArchiveServer`` binds a random free port on the loopback interface, runs in a background
thread and records every request (path and headers). Register files with :meth:`serve`; queue
scripted answers for a path with :meth:`script` (each request consumes one; when the queue is
empty the path gets its file, or 404). Scripted answers can be a plain status, a body cut in half
(with the full ``Content-Length``, a matching short one, or none at all) or a stall that outlasts
the client's timeout.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal

Mode = Literal["normal", "truncate_full_length", "truncate_short_length", "truncate_no_length", "stall"]


@dataclass(frozen=True)
class Reply:
    """One scripted answer. ``body`` None means the registered file for the path (or an empty body)."""

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    mode: Mode = "normal"


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # silence the default stderr log
        return

    def do_GET(self) -> None:
        archive = self.server.archive
        reply = archive._take(self.path, dict(self.headers.items()))
        try:
            self._answer(reply, archive.files.get(self.path))
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): fine
            self.close_connection = True

    def _answer(self, reply: Reply | None, file: bytes | None) -> None:
        if reply is None:
            reply = Reply(200, file) if file is not None else Reply(404, b"Not Found")
        body = reply.body if reply.body is not None else (file or b"")
        if reply.mode == "stall":
            self.server.archive.release.wait(timeout=10)
            self.close_connection = True
            return
        self.send_response(reply.status)
        for k, v in reply.headers.items():
            self.send_header(k, v)
        half = body[: len(body) // 2]
        if reply.mode == "normal":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if reply.mode == "truncate_full_length":
            self.send_header("Content-Length", str(len(body)))
        elif reply.mode == "truncate_short_length":
            self.send_header("Content-Length", str(len(half)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(half)
        self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    archive: ArchiveServer


class ArchiveServer:
    """Serve registered files on ``http://127.0.0.1:<random port>``; use as a context manager."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.release = threading.Event()
        self._scripts: dict[str, deque[Reply]] = {}
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.archive = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="archive-server",
            daemon=True,
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, path: str, body: bytes) -> None:
        self.files[path] = body

    def script(self, path: str, *replies: Reply) -> None:
        """Queue answers for ``path``, consumed one per request before the file is served."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    def clear_scripts(self) -> None:
        """Fix the server: every path gets its file (or 404) from now on."""
        with self._lock:
            self._scripts.clear()

    def _take(self, path: str, headers: dict[str, str]) -> Reply | None:
        with self._lock:
            self._seen.append(Seen(path, headers))
            queue = self._scripts.get(path)
            return queue.popleft() if queue else None

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def paths(self) -> list[str]:
        """Requested paths, in order."""
        return [s.path for s in self.seen]

    def hits(self, path: str) -> int:
        return sum(p == path for p in self.paths())

    def __enter__(self) -> ArchiveServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
