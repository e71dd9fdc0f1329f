"""The per-attempt deadline, against a real server on 127.0.0.1 that drips its answer.

The server sends one byte every DRIP seconds, well inside the per-read timeout, so only
an overall deadline can end the call: each attempt must fail at its deadline (not when
the answer would have finished) and be retried like any other timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from loyalty_sync.capillary.client import CapillaryClient, ClientSettings
from loyalty_sync.capillary.errors import RetriesExhausted
from loyalty_sync.capillary.ratelimit import MemoryRateLimiter
from loyalty_sync.defs.resources import CapillaryResource, WarehouseResource
from loyalty_sync_tests.capillary.conftest import BASIC

DRIP = 0.3
DEADLINE = 1.0
BODY = b"[]"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


@dataclass
class DripServer:
    """An HTTP/1.1 server that writes its answer a byte at a time; `mode` says which part.

    "body": headers at once, then a body of `body_length` bytes dripped (far longer than
    any deadline in these tests). "headers": the status line and headers dripped too.
    "short": a complete two-byte JSON body dripped, done well before the deadline.
    """

    mode: str = "body"
    body_length: int = 200
    requests: list[float] = field(default_factory=list)
    _listener: socket.socket = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> str:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _answer(self) -> tuple[bytes, bytes]:
        """(sent at once, dripped)."""
        if self.mode == "headers":
            return b"", HEAD % len(BODY) + BODY
        if self.mode == "short":
            return HEAD % len(BODY), BODY
        return HEAD % self.body_length, b" " * self.body_length

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            self.requests.append(time.monotonic())
            at_once, dripped = self._answer()
            try:
                conn.sendall(at_once)
                for byte in dripped:
                    if self._stop.wait(DRIP):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up and closed the connection


@pytest.fixture
def drip_server() -> Iterator[DripServer]:
    server = DripServer()
    yield server
    server.stop()


def _client(base_url: str, deadline: float = DEADLINE) -> CapillaryClient:
    settings = ClientSettings(
        base_url=base_url,
        own_org_id=1,
        timeout_seconds=5.0,  # per read: a byte every DRIP seconds never trips it
        request_deadline_seconds=deadline,
        max_attempts=2,
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.02,
    )
    return CapillaryClient(settings, BASIC, MemoryRateLimiter(60_000))


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_dripping_answer_fails_at_the_deadline_and_is_retried(
    drip_server: DripServer, mode: str
) -> None:
    drip_server.mode = mode
    client = _client(drip_server.start())
    started = time.monotonic()
    with pytest.raises(RetriesExhausted) as caught:
        client.programs(1)
    elapsed = time.monotonic() - started
    client.close()

    assert caught.value.attempts == 2
    assert "request deadline" in str(caught.value.last_error)
    assert len(drip_server.requests) == 2
    # Two attempts of one deadline each, plus a backoff of at most 0.03 s: nowhere near
    # the 60 s the dripped body would take, nor one extra per-read timeout (5 s).
    assert 2 * DEADLINE - 0.05 <= elapsed < 2 * DEADLINE + 0.5
    first_attempt = drip_server.requests[1] - drip_server.requests[0]
    assert DEADLINE - 0.05 <= first_attempt < DEADLINE + 0.4
    stats = client.stats.snapshot()
    assert stats["errors_by_code"]["timeout"] == 2 and stats["retries"] == 1


def test_a_slow_answer_inside_the_deadline_is_kept(drip_server: DripServer) -> None:
    drip_server.mode = "short"  # two bytes, 0.6 s in all
    client = _client(drip_server.start(), deadline=2.0)
    programs = client.programs(1)
    client.close()
    assert programs.programs == []
    assert len(drip_server.requests) == 1
    assert client.stats.snapshot()["retries"] == 0


def test_a_deadline_must_be_positive() -> None:
    with pytest.raises(ValueError, match="request_deadline_seconds"):
        ClientSettings(base_url="http://127.0.0.1:1", request_deadline_seconds=0)


def test_the_resource_passes_its_deadline_to_the_client() -> None:
    resource = CapillaryResource(
        warehouse=WarehouseResource(),
        base_url="http://127.0.0.1:9",
        org_ids="1",
        username="user",
        password="secret",
        rate_limit_backend="memory",
        request_deadline_seconds=7.5,
    )
    try:
        assert resource.get_client().settings.request_deadline_seconds == 7.5
    finally:
        resource.close()
    assert CapillaryResource(warehouse=WarehouseResource()).request_deadline_seconds == 60.0
