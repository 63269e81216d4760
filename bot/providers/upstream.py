"""The Upstream bundle: everything a provider needs to talk to its service."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from bot.clock import MONOTONIC, Clock
from bot.providers.downloads import DEFAULT_MAX_ANSWER_BYTES, download, read_answer
from bot.providers.retry import RetryPolicy, send_with_retry


@dataclass(frozen=True)
class Upstream:
    """The shared HTTP client, the retry policy for its API calls, the caps on fetching result URLs, and
    the clock every backoff, poll interval and deadline reads (a FakeClock in tests)."""

    client: httpx.AsyncClient
    policy: RetryPolicy
    max_download_bytes: int = 50 * 1024 * 1024
    download_timeout: float = 120.0
    clock: Clock = MONOTONIC
    # The cap on every API answer (JSON bodies, task polls): an endless answer must not fill memory.
    max_response_bytes: int = DEFAULT_MAX_ANSWER_BYTES

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool = True,
    ) -> httpx.Response:
        """send_with_retry through this client under this policy, clock and answer cap."""
        return await send_with_retry(
            self.client,
            method,
            url,
            self.policy,
            headers=headers,
            json_body=json_body,
            params=params,
            clock=self.clock,
            max_bytes=self.max_response_bytes,
            idempotent=idempotent,
        )

    async def send_once(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        max_bytes: int | None = None,
    ) -> httpx.Response:
        """One request, no retries (a poll: the caller decides what a fault means), its answer capped.
        Raises httpx errors as they come, and AnswerTooLarge."""
        cap = self.max_response_bytes if max_bytes is None else max_bytes
        return await read_answer(self.client, method, url, headers, json_body, params, cap)

    async def download(self, url: str) -> bytes:
        """download through this client within this upstream's size and time caps."""
        return await download(self.client, url, max_bytes=self.max_download_bytes, timeout=self.download_timeout)

    def deadline(self) -> float:
        """When a job started now must be done by, on this upstream's clock."""
        return self.clock.now() + self.policy.deadline_seconds
