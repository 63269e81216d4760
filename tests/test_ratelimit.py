"""The per-user sliding window, driven by a fake clock."""

from __future__ import annotations

from bot.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_admits_up_to_the_limit_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert limiter.admit("u", 2) is None
    clock.now += 10
    assert limiter.admit("u", 2) is None
    clock.now += 20
    assert limiter.admit("u", 2) == 30.0  # the first hit leaves the window 60 s after it came
    assert limiter.admit("other", 2) is None
    clock.now += 30
    assert limiter.admit("u", 2) is None


def test_forget_last_gives_back_only_the_last_admission() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert limiter.admit("u", 2) is None  # t = 0
    clock.now += 10
    assert limiter.admit("u", 2) is None  # t = 10, then refused downstream
    limiter.forget_last("u")

    clock.now += 10
    assert limiter.admit("u", 2) is None  # t = 20: the forgotten slot is free again
    clock.now += 10
    # Full again; the wait is counted from t = 0, so that first admission was kept.
    assert limiter.admit("u", 2) == 30.0


def test_forget_last_touches_no_one_else() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert limiter.admit("a", 1) is None
    limiter.forget_last("b")  # nothing recorded for b: a no-op
    assert limiter.admit("a", 1) == 60.0
