"""Per-user request rate limit: a sliding one-minute window kept in memory (it need not survive restarts)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, window_seconds: float = 60.0) -> None:
        self._clock = clock
        self._window = window_seconds
        self._hits: dict[str, deque[float]] = {}

    def admit(self, key: str, per_minute: int) -> float | None:
        """Record a request and return None, or return how many seconds until one is allowed."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self._window:
            hits.popleft()
        if len(hits) >= per_minute:
            return self._window - (now - hits[0])
        hits.append(now)
        return None

    def forget_last(self, key: str) -> None:
        """Undo an admission for a request that was refused before it cost anything."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()
