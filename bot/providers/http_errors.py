"""A failed HTTP answer -> the ProviderError a user can understand. The provider's own words go into the
error's detail, for the operator's log, with the credentials the request carried scrubbed out (an
upstream may echo a key back); users only ever read our sentences, with the HTTP status at most."""

from __future__ import annotations

import json

import httpx

from bot.providers.base import (
    AuthError,
    BalanceError,
    ContentRefused,
    Overloaded,
    ProviderError,
    UpstreamTimeout,
)
from bot.redaction import header_secrets, redact

_REFUSAL_WORDS = ("content_policy", "content policy", "safety", "moderation", "nsfw", "policy_declined")


def error_text(response: httpx.Response) -> str:
    """The provider's own words, from any of the error envelopes seen (OpenAI, Relay, APIFRAME, text),
    without the credentials the request carried."""
    return redact(_raw_error_text(response), request_secrets(response))


def request_secrets(response: httpx.Response) -> list[str]:
    try:
        return header_secrets(response.request.headers)
    except RuntimeError:  # a response built without its request
        return []


def _raw_error_text(response: httpx.Response) -> str:
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
        return ProviderError(detail, f"The provider could not accept this request ({status_line(status)}).")
    return ProviderError(detail)


def status_line(status: int) -> str:
    """`HTTP 400 Bad Request`: what a user may see of a failed answer."""
    reason = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {reason}" if reason else f"HTTP {status}"
