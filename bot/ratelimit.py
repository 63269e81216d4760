"""Per-key request rate limit: a sliding one-minute window kept in memory (it need not survive restarts).

A refusal costs nothing and is said once per window: the first tells the user when to retry, the ones that
follow within the same window are to be dropped silently, so a flood of requests never turns into a flood
of "slow down" replies competing with real results."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Refusal:
    retry_in: float  # seconds until a request would be admitted
    tell: bool  # the first refusal in this window: say it; later ones are dropped without a word


class RateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, window_seconds: float = 60.0) -> None:
        self._clock = clock
        self._window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._told: dict[str, float] = {}  # when each key was last told to slow down

    def admit(self, key: str, per_minute: int) -> Refusal | None:
        """Record a request and return None, or refuse it (recording nothing). `per_minute` 0 means no limit."""
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self._window:
            hits.popleft()
        if per_minute > 0 and len(hits) >= per_minute:
            told = self._told.get(key)
            tell = told is None or now - told >= self._window
            if tell:
                self._told[key] = now
            return Refusal(self._window - (now - hits[0]), tell)
        hits.append(now)  # recorded even with no limit, so forget_last always undoes this admission
        told = self._told.get(key)
        if told is not None and now - told >= self._window:
            del self._told[key]
        return None

    def forget_last(self, key: str) -> None:
        """Undo an admission for a request that was refused before it cost anything."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()
