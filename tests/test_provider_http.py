"""The shared HTTP layer: lifting big base64 values out of JSON answers must read exactly as json does;
Retry-After in both its forms."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.providers.base import ProviderError
from bot.providers.json_lift import parse_json
from bot.providers.retry import retry_after_seconds


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
