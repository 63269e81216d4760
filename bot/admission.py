"""Admission: the per-member rate limit in force in a scope, checked before anything is charged or sent
upstream. One refusal text for every command that calls a provider."""

from __future__ import annotations

from bot.messages import Request
from bot.ratelimit import RateLimiter
from bot.scope_limits import Limits


def admit(limiter: RateLimiter, request: Request, limits: Limits) -> str | None:
    """Count this request against the asker's rate; None when admitted, else what to tell them."""
    wait = limiter.admit(request.asker, limits.rate_per_minute)
    if wait is None:
        return None
    return (
        f"Slow down a little: {limits.rate_per_minute} requests a minute at most. Try again in {max(1, round(wait))}s."
    )
