"""`/usage chart` (everyone; also the button under `/usage`), `/usage top` and `/usage export` (a scope's
admins): what the scope's members did over the last days, from the job rows and chat turns (ActivityStore)."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime

from bot.messages import Reply, Request, ScopeKind
from bot.scope_limits import ScopeLimits
from bot.store.activity import ActivityRow, ActivityStore
from bot.store.quotas import utc_day
from bot.usage_chart import ChartData, render_chart

DAY = 86400
CHART_DAYS = 30
TOP_DAYS = 7
TOP_MEMBERS = 10
EXPORT_DAYS = 30
CSV_HEADER = ("time", "member", "command", "model", "outcome", "cost_units")
NOT_ADMIN = "Only this server's admins can see /usage top and /usage export. Try /usage chart."
NOBODY = f"Nobody here made images or chatted in the last {TOP_DAYS} days."
# A spreadsheet runs a cell that starts with one of these as a formula: such a name gets a leading quote.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Under Discord's smallest upload limit (10 MB): a bigger CSV goes zipped (about a tenth of its size).
EXPORT_MAX_BYTES = 8 * 1024 * 1024
TOO_BIG = (
    "This server's export is too big to upload even zipped ({size:.1f} MB). "
    "The operator can export the jobs table from the database instead."
)


class UsageReports:
    def __init__(
        self, scope_limits: ScopeLimits, activity: ActivityStore, now: Callable[[], float] = time.time
    ) -> None:
        self._scope_limits = scope_limits
        self._activity = activity
        self._now = now

    async def chart(self, request: Request, reply: Reply) -> None:
        """Images per day for the last 30 UTC days, stacked by model, the asker's line over them and the daily
        quota (the scope's shared one in a server/group, the asker's own in a private chat) as a reference."""
        now = self._now()
        days = [utc_day(now - back * DAY) for back in range(CHART_DAYS - 1, -1, -1)]
        since = now - now % DAY - (CHART_DAYS - 1) * DAY  # the oldest day's midnight
        found = await self._activity.images_by_day(request.scope.key, request.user.key, since)
        index = {day: number for number, day in enumerate(days)}
        by_model: dict[str, list[int]] = {}
        mine = [0] * CHART_DAYS
        for row in found:
            if row.day in index:
                by_model.setdefault(row.model, [0] * CHART_DAYS)[index[row.day]] += row.images
                mine[index[row.day]] += row.mine
        limits = await self._scope_limits.for_scope(request.scope)
        shared = request.scope.kind == ScopeKind.GUILD
        quota = limits.images_per_scope if shared else limits.images_per_user
        title = f"Images per day {'in this server/group' if shared else 'of yours'}, last {CHART_DAYS} days (UTC)"
        data = ChartData(title, days, by_model, mine, quota, own_label=f"You ({request.user.name})"[:40])
        png = await asyncio.to_thread(render_chart, data)  # CPU-bound drawing stays off the event loop
        total = sum(sum(counts) for counts in by_model.values())
        caption = f"{_count(total, 'image')} here in the last {CHART_DAYS} days, {sum(mine)} of them yours."
        await reply.send_file(f"atelier-usage-{days[-1]}.png", png, "image/png", caption)

    async def top(self, request: Request, reply: Reply) -> None:
        """This week's most active members, by images delivered and chat turns."""
        if not request.is_admin:
            await reply.send_error(NOT_ADMIN)
            return
        members = await self._activity.top_members(request.scope.key, self._now() - TOP_DAYS * DAY, TOP_MEMBERS)
        if not members:
            await reply.send_text(NOBODY)
            return
        lines = [f"Most active here in the last {TOP_DAYS} days:"]
        lines += [
            f"{rank}. {member.name}: {_count(member.images, 'image')}, {_count(member.turns, 'chat turn')}"
            for rank, member in enumerate(members, 1)
        ]
        await reply.send_text("\n".join(lines))

    async def export(self, request: Request, reply: Reply) -> None:
        """A CSV of the scope's image jobs and chat turns of the last 30 days, one row each."""
        if not request.is_admin:
            await reply.send_error(NOT_ADMIN)
            return
        now = self._now()
        rows = await self._activity.rows(request.scope.key, now - EXPORT_DAYS * DAY)
        name = f"atelier-usage-{utc_day(now)}.csv"
        data = await asyncio.to_thread(export_csv, rows)
        mime = "text/csv"
        if len(data) > EXPORT_MAX_BYTES:
            data, name, mime = await asyncio.to_thread(zipped, data, name), f"{name}.zip", "application/zip"
            if len(data) > EXPORT_MAX_BYTES:
                await reply.send_error(TOO_BIG.format(size=len(data) / 1_048_576))
                return
        caption = (
            f"{_count(len(rows), 'row')}: the image jobs and chat turns here in the last {EXPORT_DAYS} days. "
            "Times are UTC; cost_units are images charged (failed, cancelled and chat: 0)."
        )
        await reply.send_file(name, data, mime, caption)


def export_csv(rows: list[ActivityRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        at = datetime.fromtimestamp(row.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.writerow((at, _cell(row.member), row.command, row.model, row.outcome, row.cost_units))
    return out.getvalue().encode()


def zipped(data: bytes, name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return out.getvalue()


def _cell(text: str) -> str:
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
