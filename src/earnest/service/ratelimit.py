"""Per-key rate limits: one token bucket per API key.

A key with rate ``r`` requests per second holds at most ``r * burst_s`` tokens (at least one);
the bucket refills continuously at ``r`` tokens per second and each request takes one. A request
that finds less than one token is refused (HTTP 429) with the seconds until one is back.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key; ``clock`` returns seconds (monotonic; injectable for tests)."""

    def __init__(self, *, burst_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst_s = burst_s
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def capacity(self, rate: float) -> float:
        """The most tokens a key of ``rate`` requests per second can hold."""
        return max(1.0, rate * self.burst_s)

    def acquire(self, key: str, rate: float) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds to wait for one."""
        now = self.clock()
        cap = self.capacity(rate)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(cap, now)
            bucket.tokens = min(cap, bucket.tokens + (now - bucket.at) * rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate


def retry_after_header(wait_s: float) -> str:
    """The ``Retry-After`` value (whole seconds, at least 1) for a wait of ``wait_s``."""
    return str(max(1, math.ceil(wait_s)))


__all__ = ["RateLimiter", "retry_after_header"]
