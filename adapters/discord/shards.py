"""Which Discord shards this process runs (DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS), and the client options
that make discord.py run exactly those. Discord sends a guild's events to shard (guild_id >> 22) % count."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.clock import MONOTONIC, Clock
from bot.config import Settings


class ShardSettingsError(ValueError):
    """The shard settings contradict one another; the message names the one to change."""


@dataclass(frozen=True)
class ShardPlan:
    count: int | None  # None: as many shards as Discord recommends, all in this process
    ids: tuple[int, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> ShardPlan:
        count, text = settings.discord_shard_count, settings.discord_shard_ids.strip()
        if count is None:
            if text:
                raise ShardSettingsError("Setting DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the shards in all)")
            return cls(None)
        return cls(count, parse_shard_ids(text, count) if text else tuple(range(count)))

    @property
    def syncs_commands(self) -> bool:
        """One process registers the slash commands: the one running shard 0 (or the only one)."""
        return self.count is None or 0 in self.ids

    def client_options(self) -> dict[str, object]:
        """Keyword arguments for discord.AutoShardedClient (none: it asks Discord how many shards)."""
        if self.count is None:
            return {}
        return {"shard_count": self.count, "shard_ids": list(self.ids)}


def parse_shard_ids(text: str, count: int) -> tuple[int, ...]:
    """ "0-3" or "0,2" or "0-1,4" -> sorted unique ids, each below `count`."""
    ids: set[int] = set()
    for part in (item.strip() for item in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ShardSettingsError(
                f"Setting DISCORD_SHARD_IDS is invalid: {part!r} is not a shard number or a range like 0-3"
            ) from None
        if first < 0 or last < first:
            raise ShardSettingsError(f"Setting DISCORD_SHARD_IDS is invalid: {part!r} is not a range like 0-3")
        if last >= count:
            raise ShardSettingsError(
                f"Setting DISCORD_SHARD_IDS is invalid: shard {last} does not exist with DISCORD_SHARD_COUNT={count}"
                f" (shards are numbered 0 to {count - 1})"
            )
        ids.update(range(first, last + 1))
    if not ids:
        raise ShardSettingsError("Setting DISCORD_SHARD_IDS is invalid: list shards like 0-3 or 0,2")
    return tuple(sorted(ids))


IDENTIFY_WINDOW = 5.0  # seconds between two IDENTIFYs of one rate-limit bucket


class IdentifyPacing:
    """Discord lets `max_concurrency` shards IDENTIFY every 5 s, one per bucket (shard_id % max_concurrency).
    discord.py's default waits 5 s before every shard but the first; this waits only when the bucket needs it."""

    def __init__(self, clock: Clock = MONOTONIC) -> None:
        self._clock = clock
        self._last: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def wait(self, shard_id: int, max_concurrency: int) -> None:
        bucket = shard_id % max(1, max_concurrency)
        async with self._locks.setdefault(bucket, asyncio.Lock()):
            last = self._last.get(bucket)
            if last is not None and (delay := last + IDENTIFY_WINDOW - self._clock.now()) > 0:
                await self._clock.sleep(delay)
            self._last[bucket] = self._clock.now()
