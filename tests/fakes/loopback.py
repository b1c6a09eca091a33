"""What every fake vendor server shares: a threaded HTTP server on 127.0.0.1 (a free port),
its base URL, and a stop that first releases any request a test holds stalled."""

from __future__ import annotations

import dataclasses
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import connectors.systems as systems
from connectors.systems import SYSTEMS, RetryPolicy


class LoopbackServer:
    """Base of the fakes: call `_serve(handler_class)` at the end of `__init__`; a handler
    that stalls a page waits on `_released` (set by `stop`, or by the test)."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()


# Retries in the tests: the same bounds as a system's own policy, with waits of milliseconds.
FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05, max_total_s=5.0, timeout_s=5.0)


def fast_retries(monkeypatch, kind: str) -> list[float]:
    """Give system `kind` the FAST retry policy and record its waits between attempts
    (returned, filled as they happen) instead of sleeping them."""
    seen: list[float] = []
    monkeypatch.setattr(systems, "pause", seen.append)
    monkeypatch.setitem(SYSTEMS, kind, dataclasses.replace(SYSTEMS[kind], retry=FAST))
    return seen
