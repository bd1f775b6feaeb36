"""A per-key token bucket, in the memory of one API process.

Each API process limits on its own: with N processes behind a balancer a key gets up to N times the
limit. That is documented; a shared (Redis) bucket can replace this class without touching the routes.
"""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token; return 0 if allowed, else the seconds until a token is free."""
        if self.capacity <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
