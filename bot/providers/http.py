"""Shared HTTP behaviour for providers: retries with backoff inside a deadline, error mapping, downloads."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import re
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pybase64

from bot.providers.base import (
    AuthError,
    BadResult,
    BalanceError,
    ContentRefused,
    Overloaded,
    ProviderError,
    UpstreamTimeout,
)

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
_REFUSAL_WORDS = ("content_policy", "content policy", "safety", "moderation", "nsfw", "policy_declined")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    deadline_seconds: float = 300.0
    base_delay: float = 0.5
    max_delay: float = 20.0


# API answers carrying images are megabytes each. When many land at once, reading them all together
# only grows memory: the rest wait (in socket buffers) for one of these slots. Result URL downloads do
# not take one: a slow CDN must not hold up other providers' answers.
MAX_CONCURRENT_BODY_READS = 16
_body_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def body_read_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _body_slots.get(loop)
    if slots is None:
        slots = _body_slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_BODY_READS)
    return slots


def retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_text(response: httpx.Response) -> str:
    """The provider's own words, from any of the error envelopes seen (OpenAI, Relay, APIFRAME, text)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:300]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return " ".join(str(error.get(k, "")) for k in ("code", "type", "message") if error.get(k))
        if isinstance(error, str):
            return error
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e.get("msg", e)) if isinstance(e, dict) else str(e) for e in errors)
        for key in ("detail", "message"):
            if body.get(key):
                return str(body[key])
    return str(body)[:300]


def error_for(response: httpx.Response) -> ProviderError:
    """Map a failed answer to the error a user can understand."""
    status = response.status_code
    detail = f"HTTP {status}: {error_text(response)}"
    lowered = detail.lower()
    if any(word in lowered for word in _REFUSAL_WORDS):
        return ContentRefused(detail)
    if status in (401, 403):
        return AuthError(detail)
    if status == 402 or "balance" in lowered or "insufficient" in lowered:
        return BalanceError(detail)
    if status in (429, 503, 529) or "capacity" in lowered or "overload" in lowered:
        return Overloaded(detail)
    if status in (408, 504, 524):
        return UpstreamTimeout(detail)
    if 400 <= status < 500:
        return ProviderError(detail, "The provider could not accept this request: " + error_text(response)[:200])
    return ProviderError(detail)


async def send_with_retry(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    policy: RetryPolicy,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    params: Mapping[str, Any] | None = None,
) -> httpx.Response:
    """Send a request, retrying 408/429/5xx and connection faults with backoff (honouring
    Retry-After) until `max_retries` or the deadline. Returns a 2xx response or raises ProviderError."""
    started = time.monotonic()
    attempt = 0
    while True:
        remaining = policy.deadline_seconds - (time.monotonic() - started)
        if remaining <= 0:
            raise UpstreamTimeout("deadline passed before the provider answered")
        failure: ProviderError
        wait: float | None = None
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel (/cancel) that lands
            # just as the response does.
            async with asyncio.timeout(remaining):
                response = await _read_response(client, method, url, headers, json_body, params)
        except (httpx.TimeoutException, TimeoutError):
            failure = UpstreamTimeout(f"{method} {url} timed out")
        except httpx.TransportError as exc:
            failure = Overloaded(f"{method} {url}: {type(exc).__name__}")
        else:
            if response.is_success:
                return response
            failure = error_for(response)
            if response.status_code not in RETRYABLE_STATUSES:
                raise failure
            wait = retry_after_seconds(response)
        if attempt >= policy.max_retries:
            raise failure
        delay = wait if wait is not None else min(policy.max_delay, policy.base_delay * 2**attempt)
        delay += random.uniform(0, policy.base_delay / 2) if wait is None else 0
        if time.monotonic() - started + delay > policy.deadline_seconds:
            raise failure
        log.info("retrying %s %s in %.1fs after: %s", method, url, delay, failure)
        attempt += 1
        await asyncio.sleep(delay)


async def _read_response(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    json_body: Any,
    params: Mapping[str, Any] | None,
) -> httpx.Response:
    request = client.build_request(method, url, headers=headers, json=json_body, params=params)
    sent = await client.send(request, stream=True)
    try:
        async with body_read_slot():
            # Iterated, not aread(): a sent httpx response and its stream reference each other, so a
            # body cached on it (megabytes here) lives until the cyclic GC runs: 270 MB of garbage in
            # bench/core_bench.py. The bytes go to a detached response instead.
            content = b"".join([chunk async for chunk in sent.aiter_bytes()])
    finally:
        await sent.aclose()
    detached = httpx.Headers([(k, v) for k, v in sent.headers.multi_items() if k.lower() != "content-encoding"])
    return httpx.Response(sent.status_code, headers=detached, content=content, request=request)


def parse_json(response: httpx.Response, *, lift: str | None = None) -> Any:
    """The answer's JSON. With `lift`, every string value of that key (a base64 image, megabytes long)
    comes back as a memoryview cut straight from the body: the JSON string scanner reads megabytes one
    character at a time (1.5-2.5 ms per image here), a find() does it at memory speed."""
    try:
        if lift is not None:
            return _loads_lifting(response.content, lift)
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProviderError(f"malformed JSON from provider: {exc}") from None


def _loads_lifting(raw: bytes, key: str) -> Any:
    opening = re.compile(rb'"' + re.escape(key.encode()) + rb'"\s*:\s*"')
    pieces: list[bytes] = []
    lifted: list[memoryview] = []
    cursor = 0
    while (match := opening.search(raw, cursor)) is not None:
        start = match.end()
        end = raw.find(b'"', start)
        if end < 0 or raw.find(b"\\", start, end) >= 0:
            return json.loads(raw)  # escapes inside: not plain base64, let the real parser decide
        pieces += [raw[cursor:start], str(len(lifted)).encode()]
        lifted.append(memoryview(raw)[start:end])
        cursor = end
    if not lifted:
        return json.loads(raw)
    pieces.append(raw[cursor:])
    return _put_back(json.loads(b"".join(pieces)), key, lifted)


def _put_back(node: Any, key: str, lifted: list[memoryview]) -> Any:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, str) and value.isdigit() and int(value) < len(lifted):
                node[name] = lifted[int(value)]
            else:
                _put_back(value, key, lifted)
    elif isinstance(node, list):
        for value in node:
            _put_back(value, key, lifted)
    return node


async def download(client: httpx.AsyncClient, url: str, *, max_bytes: int, timeout: float) -> bytes:
    """Fetch a result URL at once (they expire), refusing anything larger than `max_bytes`."""
    if url.startswith("data:"):
        return decode_data_uri(url)
    try:
        async with asyncio.timeout(timeout), client.stream("GET", url) as response:
            if not response.is_success:
                raise BadResult(f"result download failed: HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise BadResult(f"result is {declared} bytes, over the {max_bytes} cap")
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise BadResult(f"result exceeds the {max_bytes} byte cap")
                chunks.append(chunk)
            return b"".join(chunks)
    except (TimeoutError, httpx.TimeoutException):
        raise BadResult("result download timed out") from None
    except httpx.TransportError as exc:
        raise BadResult(f"result download failed: {type(exc).__name__}") from None


@dataclass(frozen=True)
class Upstream:
    """What every provider needs to talk to its service: the shared HTTP client, the retry policy for
    its API calls, and the caps on fetching result URLs."""

    client: httpx.AsyncClient
    policy: RetryPolicy
    max_download_bytes: int = 50 * 1024 * 1024
    download_timeout: float = 120.0

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """send_with_retry through this client under this policy."""
        return await send_with_retry(
            self.client, method, url, self.policy, headers=headers, json_body=json_body, params=params
        )

    async def download(self, url: str) -> bytes:
        """download through this client within this upstream's size and time caps."""
        return await download(self.client, url, max_bytes=self.max_download_bytes, timeout=self.download_timeout)


def decode_base64(text: str | bytes | memoryview) -> bytes:
    # pybase64 (SIMD) decodes a 1 MB image ~4x faster than the standard library, on the event loop.
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass  # strict decoding refuses answers wrapped in newlines: decode leniently
    try:
        return pybase64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise BadResult(f"invalid base64 image: {exc}") from None


def decode_data_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or ";base64" not in header:
        raise BadResult("unsupported data URI")
    return decode_base64(payload)


def data_uri(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
