"""Shared pieces of the provider tests: a fast retry policy, an Upstream built on it, and a progress recorder."""

from __future__ import annotations

import httpx

from bot.providers.base import ProviderProgress
from bot.providers.retry import RetryPolicy
from bot.providers.upstream import Upstream

FAST = RetryPolicy(max_retries=2, deadline_seconds=5.0, base_delay=0.01, max_delay=0.05)


def upstream(client: httpx.AsyncClient, policy: RetryPolicy = FAST, **caps: float) -> Upstream:
    """An Upstream over `client` and `policy`; `caps` sets max_download_bytes / download_timeout."""
    return Upstream(client, policy, **caps)  # type: ignore[arg-type]


class Seen:
    """A progress callback that remembers what it was told."""

    def __init__(self) -> None:
        self.updates: list[ProviderProgress] = []

    async def __call__(self, update: ProviderProgress) -> None:
        self.updates.append(update)

    @property
    def percents(self) -> list[float]:
        return [u.percent for u in self.updates if u.percent is not None]
