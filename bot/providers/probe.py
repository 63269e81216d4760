"""One cheap request that tells whether a provider answers and takes its credentials, generating nothing
(`atelier doctor`). Each provider knows which call of its API does that; this module reads the answer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from bot.providers.base import ProviderError
from bot.providers.downloads import read_answer
from bot.providers.http_errors import error_text, status_line
from bot.providers.wire import transport_failure

PROBE_TIMEOUT_SECONDS = 10.0
# A model list can be long (hundreds of gateway models with descriptions); nothing larger is read.
PROBE_MAX_BYTES = 32 * 1024 * 1024


class ProbeStatus(StrEnum):
    ACCEPTED = "accepted"  # the credentials were checked and taken
    REACHABLE = "reachable"  # it answered, but no free call of its API checks the credentials
    REJECTED = "rejected"  # the credentials were refused
    UNREACHABLE = "unreachable"  # no connection, or no answer in time
    FAILED = "failed"  # an answer that says something else is wrong


@dataclass(frozen=True)
class Probe:
    status: ProbeStatus
    detail: str  # what was found ("2 models listed") or what went wrong ("HTTP 401: invalid_api_key")


# Reads a probe's answer the provider's way; None leaves it to the generic reading (2xx, 401/403, ...).
Reading = Callable[[httpx.Response], Probe | None]


async def probe_get(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str], read: Reading | None = None
) -> Probe:
    """GET `url` once (no retries) within PROBE_TIMEOUT_SECONDS and judge the answer."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            response = await read_answer(client, "GET", url, headers, None, None, PROBE_MAX_BYTES)
    except (httpx.HTTPError, TimeoutError) as exc:
        return Probe(ProbeStatus.UNREACHABLE, str(transport_failure(exc, "GET", url)))
    except ProviderError as exc:  # an answer past the cap
        return Probe(ProbeStatus.FAILED, str(exc))
    if read is not None and (verdict := read(response)) is not None:
        return verdict
    if response.status_code in (401, 403):
        return Probe(ProbeStatus.REJECTED, failure_text(response))
    if response.is_success:
        return Probe(ProbeStatus.ACCEPTED, "credentials accepted")
    return Probe(ProbeStatus.FAILED, failure_text(response))


def failure_text(response: httpx.Response) -> str:
    """`HTTP 401 Unauthorized: <the provider's words>`, the request's credentials masked."""
    status, words = status_line(response.status_code), error_text(response).strip()
    return f"{status}: {words}" if words and words != "{}" else status  # APIFRAME's 401 is a bare `{}`


def counted(count: int, thing: str) -> str:
    return f"{count} {thing}" + ("" if count == 1 else "s")


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


async def list_models(client: httpx.AsyncClient, base_url: str, headers: Mapping[str, str]) -> Probe:
    """OpenAI-style APIs: `GET {base}/models` with the key. Where the API has no such list, only that it
    answers is known."""

    def read(response: httpx.Response) -> Probe | None:
        if response.status_code in (404, 405):
            return Probe(ProbeStatus.REACHABLE, "it answers, but lists no models, so the key could not be checked")
        if not response.is_success:
            return None
        body = json_of(response)
        models = body.get("data") if isinstance(body, dict) else None
        if not isinstance(models, list):
            return Probe(ProbeStatus.ACCEPTED, "key accepted")
        return Probe(ProbeStatus.ACCEPTED, f"key accepted, {counted(len(models), 'model')} listed")

    return await probe_get(client, base_url.rstrip("/") + "/models", headers, read)
