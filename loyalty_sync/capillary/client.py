"""The Capillary client: the one object the sync, the sensors and the CLI hold.

It is a face over parts that each do one job, so that a change to one of them is read
in one small module: `transport` (one authenticated exchange with its deadline, retries,
breaker and rate limit), `paging` (walking paged answers), `endpoints` and `catalogue`
(the typed methods) and `pool` (calls on threads, so throughput is set by the rate limit, not by
round trips). It is safe to call from many threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import httpx

from loyalty_sync.capillary.auth import Credentials
from loyalty_sync.capillary.breaker import CircuitBreaker
from loyalty_sync.capillary.catalogue import CatalogueEndpoints
from loyalty_sync.capillary.clock import SourceClock
from loyalty_sync.capillary.endpoints import PROMOTION_DATA_MAX_PAGE, Endpoints
from loyalty_sync.capillary.errors import CapillaryError
from loyalty_sync.capillary.pool import CallAbandoned, imap
from loyalty_sync.capillary.ratelimit import RateLimiter
from loyalty_sync.capillary.requeue import completed
from loyalty_sync.capillary.settings import ClientSettings
from loyalty_sync.capillary.stats import ClientStats
from loyalty_sync.capillary.transport import Transport

T = TypeVar("T")
R = TypeVar("R")


class CapillaryClient(Endpoints, CatalogueEndpoints):
    """Thread-safe Capillary client over one pooled `httpx.Client`."""

    def __init__(
        self,
        settings: ClientSettings,
        credentials: Credentials,
        limiter: RateLimiter,
        stats: ClientStats | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.stats = stats or ClientStats()
        self.transport = Transport(settings, credentials, limiter, self.stats, http)

    @property
    def limiter(self) -> RateLimiter:
        return self.transport.limiter

    @property
    def clock(self) -> SourceClock:
        """Capillary's clock, as its answers' `Date` headers tell it."""
        return self.transport.clock

    @property
    def breaker(self) -> CircuitBreaker:
        return self.transport.breaker

    @property
    def auth_kind(self) -> str:
        return self.transport.auth.kind

    def get(
        self, endpoint: str, path: str, org_id: int | None, params: dict[str, Any] | None = None
    ) -> Any:
        """GET `path` with auth, scope headers, limiter and retries; the decoded JSON body."""
        return self.transport.get(endpoint, path, org_id, params)

    def imap(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        return_exceptions: bool = False,
        prefetch: int = 0,
    ) -> Iterator[R | Exception]:
        """`fn` over `items` on `max_concurrency` threads, in input order (see `pool.imap`).

        With `return_exceptions`, an item's exception is yielded in its place instead of
        stopping the whole map.
        """
        return imap(
            fn,
            items,
            self.settings.max_concurrency,
            return_exceptions=return_exceptions,
            prefetch=prefetch,
        )

    def completed(
        self, fn: Callable[[T], R], items: Iterable[T], *, prefetch: int = 0
    ) -> Iterator[tuple[T, R | Exception]]:
        """`fn` over `items` on `max_concurrency` threads: (item, answer or its exception)
        as each ends, a retry's pause freeing its thread (see `requeue.completed`)."""
        return completed(fn, items, self.settings.max_concurrency, prefetch=prefetch)

    def map(
        self, fn: Callable[[T], R], items: Iterable[T], *, return_exceptions: bool = False
    ) -> list[R | Exception]:
        """`imap` collected into a list."""
        return list(self.imap(fn, items, return_exceptions=return_exceptions))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> CapillaryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CapillaryClient(base_url={self.settings.base_url!r}, auth={self.auth_kind!r})"


__all__ = [
    "PROMOTION_DATA_MAX_PAGE",
    "CallAbandoned",
    "CapillaryClient",
    "CapillaryError",
    "ClientSettings",
]
