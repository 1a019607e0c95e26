"""A fault-injecting HTTP proxy for S3 tests, in front of the local moto server.

The proxy listens on 127.0.0.1 (a free port chosen by the system) and forwards every
request to the upstream S3 server unless a scripted rule matches it.  A rule fails the
next ``times`` requests whose method and path (with query) match, with one of:

``"status"``
    an S3 error answer: ``status`` and an XML body with ``<Code>code</Code>``
    (503 + ``SlowDown``, 500 + ``InternalError``, 403 + ``AccessDenied``, ...);
``"reset"``
    the connection is reset (TCP RST) without an answer;
``"truncate"``
    the upstream answer is sent with its full ``Content-Length`` but only half its
    body, then the connection is closed;
``"stall"``
    nothing is sent for ``stall`` seconds (longer than the client's read timeout),
    then the connection is closed.

Every request is counted (``proxy.requests``), whether it was failed or forwarded.
"""

from __future__ import annotations

import http.client
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import urlsplit

Fault = Literal["status", "reset", "truncate", "stall"]

_HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "expect", "content-length",
}
_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>fault injected by the test proxy</Message>"
    "<RequestId>semsl-fault-proxy</RequestId></Error>"
)


@dataclass
class Rule:
    """One scripted fault; ``times=None`` fails every matching request."""

    fault: Fault
    times: int | None
    method: str | None
    path: str | None
    status: int
    code: str
    stall: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this rule still applies to the request."""
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or re.search(self.path, path) is not None


class FaultProxy:
    """The proxy: start it, script faults with :meth:`fail`, read :attr:`requests`.

    Parameters
    ----------
    upstream
        URL of the real S3 server, e.g. ``http://127.0.0.1:5000``.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.requests: list[tuple[str, str]] = []
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        """Start serving (in a daemon thread)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()

    def fail(self, fault: Fault, *, times: int | None = 1, method: str | None = None,
             path: str | None = None, status: int = 503, code: str = "SlowDown",
             stall: float = 2.0) -> Rule:
        """Fail the next ``times`` requests matching ``method`` and the regex ``path``."""
        rule = Rule(fault, times, method, path, status, code, stall)
        with self._lock:
            self._rules.append(rule)
        return rule

    def reset(self) -> None:
        """Drop every rule and forget the counted requests."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests matched ``method`` and the regex ``path``."""
        with self._lock:
            return sum(1 for m, p in self.requests
                       if (method is None or m == method)
                       and (path is None or re.search(path, p)))

    def take(self, method: str, path: str) -> Rule | None:
        """Count the request and return the rule that fails it, if any."""
        with self._lock:
            self.requests.append((method, path))
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue for botocore's uploads

    def log_message(self, format: str, *args: object) -> None:
        return  # silence: the test output stays readable

    def do_GET(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def _handle(self) -> None:
        body = self._read_body()
        proxy: FaultProxy = self.server.proxy  # type: ignore[attr-defined]
        rule = proxy.take(self.command, self.path)
        if rule is None:
            self._forward(body)
        elif rule.fault == "status":
            self._send_error(rule)
        elif rule.fault == "reset":
            self._reset()
        elif rule.fault == "truncate":
            self._forward(body, truncate=True)
        else:
            time.sleep(rule.stall)
            self._reset()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline().strip():
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _forward(self, body: bytes, truncate: bool = False) -> None:
        conn = http.client.HTTPConnection(*self.server.proxy.upstream, timeout=30)  # type: ignore[attr-defined]
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
            self._relay(answer, data, truncate)
        finally:
            conn.close()

    def _relay(self, answer: http.client.HTTPResponse, data: bytes, truncate: bool) -> None:
        self.send_response_only(answer.status, answer.reason)
        seen: set[str] = set()
        for key, value in answer.getheaders():
            # moto repeats Server on some answers; aiohttp's strict parser refuses that.
            if key.lower() not in _HOP_BY_HOP and key.lower() not in seen:
                self.send_header(key, value)
                seen.add(key.lower())
        length = answer.getheader("Content-Length") if self.command == "HEAD" else len(data)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            # Half the promised bytes, then an orderly close: a short body, not a reset.
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    def _send_error(self, rule: Rule) -> None:
        data = _ERROR_XML.format(code=rule.code).encode()
        self.send_response_only(rule.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST.
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
