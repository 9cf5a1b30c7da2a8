"""A per-user token bucket: ``burst`` requests at once, refilled at ``per_minute``.

Written here rather than taken from slowapi because the limit is per *user* (known only after
the bearer token is checked, inside a dependency) while slowapi keys on the client address and
needs ``request: Request`` in every route's signature; it is also not installed. The buckets
live in the process: with ``--workers N`` each worker keeps its own, so a user may make up to
N times the limit (acceptable for a guard against runaway clients, not for billing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucketLimiter:
    """Allow or refuse requests per key.

    Parameters
    ----------
    per_minute : float
        Refill rate (requests per minute, on average).
    burst : int
        Bucket size: requests allowed at once after a quiet period.
    clock : callable, optional
        Monotonic seconds (injected by tests).
    """

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: object) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until one is free."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
