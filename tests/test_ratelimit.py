"""The rate limiter (GCRA in the store) on a real SQLite file, driven by a fake wall clock: a burst of N,
then one every 60/N seconds; one "slow down" a minute; forget_last; a server-wide pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.ratelimit import Pool, RateLimiter, Refusal
from bot.store import Store
from tests.fake_clock import FakeClock


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "atelier.db")
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def limiter(store: Store, clock: FakeClock) -> RateLimiter:
    return RateLimiter(store.rates, clock)


async def test_a_burst_of_n_then_one_every_sixty_over_n_seconds(limiter: RateLimiter, clock: FakeClock) -> None:
    assert await limiter.admit("u", 2) is None
    assert await limiter.admit("u", 2) is None
    assert await limiter.admit("u", 2) == Refusal(30.0, tell=True)  # the next slot frees in 60/2 s
    assert await limiter.admit("other", 2) is None
    clock.advance(29)
    assert await limiter.admit("u", 2) == Refusal(0.0, tell=False)  # still inside that minute: silent
    clock.advance(1)
    assert await limiter.admit("u", 2) is None
    assert await limiter.admit("u", 2) is not None


async def test_the_nth_of_many_rates_is_admitted_despite_float_sums(limiter: RateLimiter) -> None:
    for per_minute in (3, 7, 9, 11, 13, 600):
        key = f"k{per_minute}"
        assert [await limiter.admit(key, per_minute) for _ in range(per_minute)] == [None] * per_minute
        assert await limiter.admit(key, per_minute) is not None


async def test_one_refusal_is_said_per_minute_the_rest_are_silent(limiter: RateLimiter, clock: FakeClock) -> None:
    assert await limiter.admit("u", 1) is None  # t = 0
    clock.advance(5)
    assert await limiter.admit("u", 1) == Refusal(55.0, tell=True)  # t = 5: told when to retry
    clock.advance(5)
    refused = await limiter.admit("u", 1)
    assert refused is not None and not refused.tell  # t = 10: dropped without a word
    assert await limiter.admit("other", 1) is None  # someone else is not affected
    clock.advance(50)
    assert await limiter.admit("u", 1) is None  # t = 60: admitted
    clock.advance(1)
    refused = await limiter.admit("u", 1)
    assert refused is not None and not refused.tell  # t = 61: still within a minute of being told
    clock.advance(4)
    assert await limiter.admit("u", 1) == Refusal(55.0, tell=True)  # t = 65: a minute since the last one said


async def test_forget_last_gives_back_one_admission_of_that_key_only(limiter: RateLimiter) -> None:
    assert await limiter.admit("u", 2) is None
    assert await limiter.admit("u", 2) is None  # then refused downstream (the quota)
    await limiter.forget_last("u", 2)
    await limiter.forget_last("b", 2)  # nothing recorded for b: a no-op
    assert await limiter.admit("u", 2) is None  # the given-back slot is free again
    assert await limiter.admit("u", 2) == Refusal(30.0, tell=True)  # and only that one


async def test_forget_last_right_after_a_told_refusal_still_admits(limiter: RateLimiter) -> None:
    """Same instant: told, given back, admitted. The admission is not mistaken for another "told"."""
    assert await limiter.admit("u", 1) is None
    assert await limiter.admit("u", 1) == Refusal(60.0, tell=True)
    await limiter.forget_last("u", 1)
    assert await limiter.admit("u", 1) is None
    refused = await limiter.admit("u", 1)
    assert refused is not None and not refused.tell


async def test_a_limit_of_zero_is_no_limit_and_writes_nothing(store: Store, limiter: RateLimiter) -> None:
    assert all([await limiter.admit("u", 0) is None for _ in range(100)])
    await limiter.forget_last("u", 0)
    assert await store.db.fetchall("SELECT * FROM rate_limits") == []
    assert await limiter.admit("u", 1) is None


async def test_a_pool_refusal_charges_neither_and_a_member_refusal_spares_the_pool(
    limiter: RateLimiter, clock: FakeClock
) -> None:
    pool = Pool("guild|g1", 2)
    assert await limiter.admit("m1", 1, pool) is None
    assert await limiter.admit("m1", 1, pool) == Refusal(60.0, tell=True)  # m1's own rate: the pool not used
    assert await limiter.admit("m2", 1, pool) is None  # so the pool still had m2's slot
    assert await limiter.admit("m3", 1, pool) == Refusal(30.0, tell=True, pool=True)
    refused = await limiter.admit("m3", 1, pool)
    assert refused == Refusal(0.0, tell=False, pool=True)
    clock.advance(30)
    assert await limiter.admit("m3", 1, pool) is None  # m3's own rate (1 a minute) was never charged


async def test_a_pool_refusal_is_told_to_each_member_once(limiter: RateLimiter) -> None:
    pool = Pool("guild|g1", 1)
    assert await limiter.admit("m1", 0, pool) is None
    told = [await limiter.admit(member, 0, pool) for member in ("m2", "m3", "m2")]
    assert [refusal.tell if refusal else None for refusal in told] == [True, True, False]


async def test_forget_last_with_a_pool_gives_both_back(limiter: RateLimiter) -> None:
    pool = Pool("guild|g1", 1)
    assert await limiter.admit("m1", 1, pool) is None
    await limiter.forget_last("m1", 1, pool)
    assert await limiter.admit("m2", 1, pool) is None  # the pool's slot came back
    await limiter.forget_last("m2", 1, pool)
    assert await limiter.admit("m1", 1, pool) is None  # and m1's own
