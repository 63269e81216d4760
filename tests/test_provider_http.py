"""The shared HTTP layer: lifting big base64 values out of JSON answers must read exactly as json does;
Retry-After in both its forms."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import pytest

from bot.failures import wait_in_words
from bot.providers.base import ProviderError, Unreachable, UpstreamTimeout
from bot.providers.http_errors import error_text
from bot.providers.json_lift import parse_json
from bot.providers.retry import retry_after_seconds
from bot.providers.wire import never_sent, transport_failure
from bot.redaction import header_secrets, redact


def as_text(node: Any) -> Any:
    if isinstance(node, memoryview):
        return node.tobytes().decode()
    if isinstance(node, dict):
        return {key: as_text(value) for key, value in node.items()}
    if isinstance(node, list):
        return [as_text(value) for value in node]
    return node


@pytest.mark.parametrize(
    "raw",
    [
        b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}]}',
        b'{"data": [{"b64_json" : "QUJD", "revised_prompt": "a \\"b64_json\\": \\"x\\" c"}, {"b64_json": "REVG"}]}',
        b'{"data": [{"url": "http://x/y.png"}]}',
        b'{"data": [{"b64_json": "QU\\/JD"}]}',  # an escaped slash: left to the real parser
        b'{"data": [{"b64_json": null}], "note": "12"}',
        b'{"nested": {"list": [[{"b64_json": "WFla"}]]}, "b64_json": "0"}',
    ],
)
def test_lifted_parse_reads_like_json(raw: bytes) -> None:
    response = httpx.Response(200, content=raw)
    assert as_text(parse_json(response, lift="b64_json")) == json.loads(raw)


def test_malformed_answer_is_a_provider_error() -> None:
    with pytest.raises(ProviderError):
        parse_json(httpx.Response(200, content=b'{"data": [{"b64_json": "QUJD"}'), lift="b64_json")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    new_year = 1_767_225_600.0  # Thu, 01 Jan 2026 00:00:00 GMT

    def wait(value: str) -> float | None:
        return retry_after_seconds(httpx.Response(429, headers={"Retry-After": value}), wall_time=lambda: new_year)

    assert wait("3") == 3.0
    assert wait("Thu, 01 Jan 2026 00:00:05 GMT") == 5.0
    assert wait("Wed, 31 Dec 2025 23:59:00 GMT") == 0.0  # already past: no wait
    assert wait("soon") is None
    assert retry_after_seconds(httpx.Response(429)) is None


def test_a_secret_is_masked_in_every_form_it_travels_in() -> None:
    key = "sk-live-0123456789abcdef"
    encoded = base64.b64encode(key.encode()).decode()
    basic = base64.b64encode(f"someone:{key}".encode()).decode()  # inside Basic auth, at any alignment
    text = f"key {key}; bearer 'Bearer {key}'; b64 {encoded}; basic {basic}; url {quote(key, safe='')}"
    masked = redact(text, [key])
    assert key not in masked and encoded.rstrip("=") not in masked and quote(key, safe="") not in masked
    assert basic[8:-4] not in masked  # the stretch of base64 that carries the key is gone
    assert masked.startswith("key ***; bearer 'Bearer ***'")


def test_the_credentials_a_request_carried_are_what_an_error_text_masks() -> None:
    request = httpx.Request("POST", "http://p.test/v1", headers={"X-API-Key": "relay_sk_live_1234"})
    answer = httpx.Response(400, json={"error": "bad key relay_sk_live_1234"}, request=request)
    assert error_text(answer) == "bad key ***"
    assert header_secrets({"authorization": "Bearer abcd1234"}) == ["Bearer abcd1234", "abcd1234"]


def test_only_a_request_that_never_connected_counts_as_never_sent() -> None:
    refused = httpx.ConnectTimeout("refused")  # how httpx-aiohttp reports any aiohttp connection error
    refused.__cause__ = aiohttp.ClientConnectorError(mock_connection_key(), ConnectionRefusedError(111, "refused"))
    dropped = httpx.ConnectTimeout("dropped")
    dropped.__cause__ = aiohttp.ServerDisconnectedError()  # after the request went out: it may have arrived
    assert never_sent(refused) and never_sent(httpx.ConnectError("refused"))
    assert not never_sent(dropped) and not never_sent(httpx.ReadTimeout("slow"))
    assert isinstance(transport_failure(refused, "POST", "http://p.test:81/v1"), Unreachable)
    assert not isinstance(transport_failure(dropped, "POST", "http://p.test/v1"), Unreachable | UpstreamTimeout)


def mock_connection_key() -> Any:
    return SimpleNamespace(host="p.test", port=81, is_ssl=False, ssl=None)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (120, "in about 2 minutes"),
        (3600, "in about an hour"),
        (86400, "in about 24 hours"),
        (7 * 86400, "in about 7 days"),
    ],
)
def test_a_long_retry_after_reads_as_a_person_would_say_it(seconds: float, words: str) -> None:
    assert wait_in_words(seconds) == words
