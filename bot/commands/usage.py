"""`/usage`: what the user and the scope have used today, and the limits in force."""

from __future__ import annotations

import time

from bot.admission import describe_rate
from bot.messages import Action, Button, Reply, Request, ScopeKind
from bot.scope_limits import ScopeLimits
from bot.store.quotas import QuotaStore

# What the chart button under `/usage` carries: it names no job; the presser's scope says whose chart.
CHART_BUTTON = Button(Action.CHART, "usage")


def _until_midnight_utc(now: float) -> str:
    left = 86400 - int(now) % 86400
    return f"{left // 3600}h {left % 3600 // 60}m"


async def usage(scope_limits: ScopeLimits, quotas: QuotaStore, request: Request, reply: Reply) -> None:
    """Today's counts and limits, with a button for the 30-day chart."""
    await reply.send_buttons("\n".join(await usage_lines(scope_limits, quotas, request)), [CHART_BUTTON])


async def usage_lines(scope_limits: ScopeLimits, quotas: QuotaStore, request: Request) -> list[str]:
    limits = await scope_limits.for_scope(request.scope)
    used = await quotas.usage(request.scope.key, request.user.key)
    lines = [f"Images today: you {used.user_used}/{limits.images_per_user}"]
    if request.scope.kind == ScopeKind.GUILD:
        lines.append(f"Whole server/group: {used.scope_used}/{limits.images_per_scope}")
    lines.append(f"Rate limit: {describe_rate(limits.rate_per_minute, 'image requests')}")
    if request.scope.kind == ScopeKind.GUILD:
        whole = describe_rate(limits.guild_rate_per_minute, "image requests")
        lines.append(f"Whole server/group rate limit: {whole}")
    lines.append(f"Resets at 00:00 UTC (in {_until_midnight_utc(time.time())}).")
    return lines
