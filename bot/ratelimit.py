"""Per-key request rate limits, kept in the store (bot.store.rates: GCRA), so a restart does not reset them
and every process on one database shares them. N per minute allows a burst of N, then one every 60/N s.

A refusal costs nothing and is said once a minute per asker: the first tells the user when to retry, the
ones that follow within that minute are to be dropped silently, so a flood of requests never turns into a
flood of "slow down" replies competing with real results. Time is the wall clock (compared across
processes); tests pass their own."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.lease import WALL
from bot.metrics import Metrics
from bot.store.rates import RateStore


@dataclass(frozen=True)
class Refusal:
    retry_in: float  # seconds until a request would be admitted
    tell: bool  # the first refusal in this minute: say it; later ones are dropped without a word
    pool: bool = False  # refused by the pool's rate (the whole server/group), not the asker's own


@dataclass(frozen=True)
class Pool:
    """A rate shared by many askers: a whole server/group's image requests."""

    key: str
    per_minute: int


class RateLimiter:
    def __init__(self, rates: RateStore, clock: Clock = WALL, metrics: Metrics | None = None) -> None:
        self._rates = rates
        self._clock = clock
        self.metrics = metrics or Metrics()  # where bot.admission counts the refusals

    async def admit(self, key: str, per_minute: int, pool: Pool | None = None) -> Refusal | None:
        """Record a request and return None, or refuse it (recording nothing). 0 per minute means no limit.
        With a pool (a server's own rate) both must admit; a refusal by either charges neither. One
        statement without a pool, two with one (three when the pool refuses)."""
        now = self._clock.now()
        if per_minute > 0:
            taken = await self._rates.take(key, per_minute, now)
            if not taken.admitted:
                return Refusal(taken.retry_in, taken.told)
        if pool is None or pool.per_minute <= 0:
            return None
        if await self._rates.take_pool(pool.key, pool.per_minute, now):
            return None
        refused = await self._rates.pool_refused(key, per_minute, pool.key, pool.per_minute, now)
        return Refusal(refused.retry_in, refused.told, pool=True)

    async def forget_last(self, key: str, per_minute: int, pool: Pool | None = None) -> None:
        """Undo an admission (the same limits as it was admitted with) for a request refused before it cost
        anything: the asker's rate and the pool's each step back one request."""
        if pool is None:
            await self._rates.give_back(key, per_minute)
        else:
            await self._rates.give_back(key, per_minute, pool.key, pool.per_minute)
