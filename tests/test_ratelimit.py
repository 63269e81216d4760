"""The per-user sliding window, driven by a fake clock."""

from __future__ import annotations

from bot.ratelimit import RateLimiter, Refusal


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
    assert limiter.admit("u", 2) == Refusal(30.0, tell=True)  # the first hit leaves the window 60 s after it came
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
    assert limiter.admit("u", 2) == Refusal(30.0, tell=True)


def test_forget_last_touches_no_one_else() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert limiter.admit("a", 1) is None
    limiter.forget_last("b")  # nothing recorded for b: a no-op
    assert limiter.admit("a", 1) == Refusal(60.0, tell=True)


def test_one_refusal_is_said_per_window_the_rest_are_silent() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert limiter.admit("u", 1) is None  # t = 0
    clock.now += 5
    assert limiter.admit("u", 1) == Refusal(55.0, tell=True)  # t = 5: told when to retry
    clock.now += 5
    assert limiter.admit("u", 1) == Refusal(50.0, tell=False)  # t = 10: dropped without a word
    assert limiter.admit("other", 1) is None  # someone else is not affected
    clock.now += 50
    assert limiter.admit("u", 1) is None  # t = 60: the window moved on, admitted
    clock.now += 1
    assert limiter.admit("u", 1) == Refusal(59.0, tell=False)  # t = 61: still within a minute of being told
    clock.now += 4
    assert limiter.admit("u", 1) == Refusal(55.0, tell=True)  # t = 65: a minute since the last one said


def test_a_limit_of_zero_is_no_limit_and_forget_last_still_undoes_the_admission() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    assert all(limiter.admit("u", 0) is None for _ in range(1000))
    limiter.forget_last("u")
    assert limiter.admit("u", 2) == Refusal(60.0, tell=True)  # the 999 left still count under a limit
