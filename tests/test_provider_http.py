"""The shared HTTP layer: lifting big base64 values out of JSON answers must read exactly as json does."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot.providers.base import ProviderError
from bot.providers.http import parse_json


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
