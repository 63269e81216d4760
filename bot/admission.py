"""Admission: the limits in force in a scope, checked before anything is charged or sent upstream.
One refusal text per kind of request; the rate limiter decides whether a refusal is said or dropped."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot.messages import Reply, Request, ScopeKind
from bot.moderation.policy import Use
from bot.ratelimit import Pool, RateLimiter, Refusal
from bot.scope_limits import Limits

IMAGES_OFF = "Image generation is turned off here (the daily image quota is 0)."
WHOLE_SCOPE = " for this whole server/group"


def describe_rate(per_minute: int, what: str = "requests") -> str:
    """How a rate limit reads in /settings and /usage: 0 means no per-minute limit."""
    return f"{per_minute} {what} per minute" if per_minute > 0 else "off (no per-minute limit)"


def images_turned_off(request: Request, limits: Limits) -> bool:
    """A quota of 0 switches image generation off for the member (user_quota) or the whole group (guild_quota)."""
    return limits.images_per_user == 0 or (request.scope.kind == ScopeKind.GUILD and limits.images_per_scope == 0)


@dataclass(frozen=True)
class Admission:
    admitted: bool
    rule: str = ""  # of a refusal: "quota" (images turned off), "rate" or "guild_rate"
    said: str | None = None  # the refusal the asker was told; None when nothing was sent


ADMITTED = Admission(True)


async def admit(limiter: RateLimiter, request: Request, limits: Limits, reply: Reply) -> Admission:
    """An image request: admitted (and counted against the asker's rate), or refused and the asker told
    why, or, for a repeat refusal within the same minute, nothing sent at all."""
    if images_turned_off(request, limits):
        limiter.metrics.refused(Use.IMAGES, "quota")
        await reply.send_error(IMAGES_OFF)
        return Admission(False, "quota", IMAGES_OFF)
    refusal = await limiter.admit(request.asker, limits.rate_per_minute, _pool(request, limits))
    if refusal is None:
        return ADMITTED
    limiter.metrics.refused(Use.IMAGES, "guild_rate" if refusal.pool else "rate")
    if refusal.pool:
        return await _admitted(
            refusal, limits.guild_rate_per_minute, "image requests", reply, WHOLE_SCOPE, "guild_rate"
        )
    return await _admitted(refusal, limits.rate_per_minute, "requests", reply)


async def release(limiter: RateLimiter, request: Request, limits: Limits) -> None:
    """Give back an admitted image request refused later before it cost anything (the quota was spent):
    the asker's rate and the server's both, in one statement."""
    await limiter.forget_last(request.asker, limits.rate_per_minute, _pool(request, limits))


async def admit_chat(limiter: RateLimiter, request: Request, per_minute: int, reply: Reply) -> Admission:
    """A chat line or `/ask`: its own limit, so talking never uses up the image rate (or the reverse)."""
    refusal = await limiter.admit(chat_key(request), per_minute)
    if refusal is not None:
        limiter.metrics.refused(Use.CHAT, "rate")
    return await _admitted(refusal, per_minute, "messages", reply)


def chat_key(request: Request) -> str:
    return f"chat|{request.asker}"


def pool_key(request: Request) -> str:
    """The whole server/group's image rate."""
    return f"guild|{request.scope.key}"


def _pool(request: Request, limits: Limits) -> Pool | None:
    if request.scope.kind != ScopeKind.GUILD or limits.guild_rate_per_minute <= 0:
        return None
    return Pool(pool_key(request), limits.guild_rate_per_minute)


async def _admitted(
    refusal: Refusal | None, per_minute: int, what: str, reply: Reply, whose: str = "", rule: str = "rate"
) -> Admission:
    if refusal is None:
        return ADMITTED
    if not refusal.tell:
        return Admission(False, rule)
    wait = max(1, math.ceil(refusal.retry_in))
    said = f"Slow down a little: {per_minute} {what} a minute at most{whose}. Try again in {wait}s."
    await reply.send_error(said)
    return Admission(False, rule, said)
