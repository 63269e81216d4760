"""Retries with backoff inside a deadline, honouring Retry-After; every wait goes through a Clock."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.clock import MONOTONIC, Clock
from bot.providers.base import ProviderError, UpstreamTimeout
from bot.providers.downloads import DEFAULT_MAX_ANSWER_BYTES, read_answer
from bot.providers.http_errors import error_for
from bot.providers.wire import never_sent, transport_failure

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# Answers that say the request was not processed at all, so sending it again cannot pay twice.
_TURNED_AWAY = frozenset({429})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    deadline_seconds: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 20.0


def retry_after_seconds(response: httpx.Response, wall_time: Callable[[], float] = time.time) -> float | None:
    """Retry-After in seconds, given as a number or an HTTP date (read against the wall clock)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - wall_time())
        except (TypeError, ValueError):
            return None


def backoff_seconds(policy: RetryPolicy, attempt: int) -> float:
    """Exponential backoff with jitter, for a retry with no Retry-After to go by."""
    return min(policy.max_delay, policy.base_delay * 2**attempt) + random.uniform(0, policy.base_delay / 2)


async def send_with_retry(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    policy: RetryPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    params: Mapping[str, Any] | None = None,
    clock: Clock = MONOTONIC,
    max_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    idempotent: bool = True,
) -> httpx.Response:
    """Send a request, retrying 408/429/5xx and connection faults with backoff (honouring
    Retry-After) until `max_retries` or the deadline. Returns a 2xx response or raises ProviderError.

    A request that is not `idempotent` (a paid submit without an idempotency key) is sent again only
    when the first certainly never arrived (no connection was made) or was turned away unprocessed (429):
    after a 500 or a timeout the provider may have taken the job, and a second submit would pay twice."""
    started = clock.now()
    attempt = 0
    while True:
        remaining = policy.deadline_seconds - (clock.now() - started)
        if remaining <= 0:
            raise UpstreamTimeout("deadline passed before the provider answered")
        failure: ProviderError
        wait: float | None = None
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (/cancel) that lands
            # just as the response does.
            async with asyncio.timeout(remaining):
                response = await read_answer(client, method, url, headers, json_body, params, max_bytes)
        except (httpx.HTTPError, TimeoutError) as exc:
            # (An answer over the cap raises AnswerTooLarge straight through: asking again would not help.)
            failure = transport_failure(exc, method, url)
            if isinstance(exc, httpx.TooManyRedirects) or not (idempotent or never_sent(exc)):
                raise failure from None
        else:
            if response.is_success:
                return response
            failure = error_for(response)
            wait = retry_after_seconds(response)
            failure.retry_after = wait
            if response.status_code not in (RETRYABLE_STATUSES if idempotent else _TURNED_AWAY):
                raise failure
        if attempt >= policy.max_retries:
            raise failure
        delay = wait if wait is not None else backoff_seconds(policy, attempt)
        if clock.now() - started + delay > policy.deadline_seconds:
            raise failure
        log.info("retrying %s %s in %.1fs after: %s", method, url, delay, failure)
        attempt += 1
        await clock.sleep(delay)
