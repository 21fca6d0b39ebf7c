"""A real HTTP server on 127.0.0.1 standing in for the clinic's booking webhook.

    endpoint = ClinicEndpoint("the-secret").start()
    ...  # point CLINIC_BOOKING_WEBHOOK_URL at endpoint.url
    endpoint.fail_next(2)               # answer 500 twice, then 200
    endpoint.delay_next(1, 2.0)         # sleep 2 s before answering the next one
    assert endpoint.wait_for(1)         # one distinct reference received
    endpoint.unique_references()        # ["DN-7K3Q9"]
    endpoint.stop(); endpoint.start()   # down, then back on the same port

It checks ``X-Clinic-Signature`` like a clinic should (wrong signature: 401,
counted in ``rejected_signatures``), answers 200 to every correctly signed
request and, like a clinic should, treats a repeated ``Idempotency-Key`` as a
duplicate: ``received`` keeps every accepted request, ``unique_references()``
each reference once.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, List, Optional

from clinic.delivery import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify_signature


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of connections (SYN retried after 1 s)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the endpoint accepted."""

    body: bytes
    headers: Message  # case-insensitive: headers["idempotency-key"] works too
    json: Any
    duplicate: bool

    @property
    def reference(self) -> Optional[str]:
        """The ``Idempotency-Key`` header."""
        return self.headers.get(IDEMPOTENCY_HEADER)


class ClinicEndpoint:
    """The stand-in clinic. Thread-safe; start and stop it from the test.

    Args:
        secret: The shared webhook secret it verifies signatures with.
        port: A fixed port, or 0 for a free one (kept across stop and start).
        path: The URL path it advertises in ``url`` (any path is accepted).
    """

    def __init__(self, secret: str, port: int = 0, path: str = "/bookings") -> None:
        self.secret = secret
        self.port = port
        self.path = path
        self.received: List[ReceivedRequest] = []
        self.rejected_signatures = 0
        self.hits = 0  # every POST, whatever the answer
        self._references: List[str] = []
        self._failures: List[int] = []
        self._delays: List[float] = []
        self._lock = threading.Condition()
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """Where to POST bookings."""
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self) -> "ClinicEndpoint":
        """Starts serving in a background thread (again on the same port after ``stop``)."""
        if self._server is not None:
            return self
        self._stopped.clear()
        self._server = _Server(("127.0.0.1", self.port), self._handler_class())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving and frees the port; state (received, scripts) is kept."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopped.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "ClinicEndpoint":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    def fail_next(self, n: int, status: int = 500) -> None:
        """Answers the next ``n`` requests with ``status`` without recording them."""
        with self._lock:
            self._failures.extend([status] * n)

    def stop_failing(self) -> None:
        """Forgets any failures still scripted by ``fail_next``."""
        with self._lock:
            self._failures.clear()

    def delay_next(self, n: int, seconds: float) -> None:
        """Sleeps ``seconds`` before handling each of the next ``n`` requests."""
        with self._lock:
            self._delays.extend([seconds] * n)

    def stop_delaying(self) -> None:
        """Forgets any delays still scripted by ``delay_next``."""
        with self._lock:
            self._delays.clear()

    def unique_references(self) -> List[str]:
        """Each accepted reference once, in order of first arrival."""
        with self._lock:
            return list(self._references)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Waits until ``count`` distinct references arrived; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: len(self._references) >= count, timeout=timeout)

    # -- request handling ----------------------------------------------------

    def _script(self) -> tuple:
        with self._lock:
            self.hits += 1
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
        return delay, failure

    def _accept(self, body: bytes, headers: Message) -> int:
        if not verify_signature(body, self.secret, headers.get(SIGNATURE_HEADER)):
            with self._lock:
                self.rejected_signatures += 1
            return 401
        try:
            document = json.loads(body.decode("utf-8"))
        except ValueError:
            return 400
        reference = headers.get(IDEMPOTENCY_HEADER) or ""
        with self._lock:
            duplicate = reference in self._references
            if not duplicate:
                self._references.append(reference)
            self.received.append(ReceivedRequest(body, headers, document, duplicate))
            self._lock.notify_all()
        return 200

    def _handler_class(self) -> type:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0, one request per connection: after stop() nothing answers any more.
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                delay, failure = endpoint._script()
                if delay and endpoint._stopped.wait(delay):
                    return
                status = failure or endpoint._accept(body, self.headers)
                payload = json.dumps({"ok": 200 <= status < 300}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout test); nothing to tell it

            def log_message(self, *_args: Any) -> None:
                pass  # keep test output (and captured logs) quiet

        return Handler
