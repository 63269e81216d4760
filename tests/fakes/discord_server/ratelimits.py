"""Rate limits and injected answers: Discord's rate-limit headers, 429s shaped exactly like Discord's, and
arbitrary canned responses for the next matching requests."""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .models import RecordedRequest
from .state import DiscordState


@dataclass
class _Injected:
    method: str
    route: str
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


class RateLimitMixin(DiscordState):
    """``inject_response`` / ``inject_rate_limit`` and taking injections for incoming requests."""

    _injected: list[_Injected]

    def inject_response(
        self,
        method: str,
        route: str,
        *,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching requests (route template or concrete path) with this."""
        self._injected.append(_Injected(method.upper(), route, status, body, dict(headers or {}), count))

    def inject_rate_limit(
        self, method: str, route: str, *, retry_after: float = 0.05, count: int = 1, is_global: bool = False
    ) -> None:
        """Make the next ``count`` matching requests 429 exactly like Discord (body + headers + Via)."""
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": _bucket_hash(route),
            "X-RateLimit-Scope": "global" if is_global else "user",
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        self.inject_response(method, route, status=429, body=body, headers=headers, count=count)

    def _take_injection(self, rec: RecordedRequest) -> _Injected | None:
        for inj in self._injected:
            if inj.remaining > 0 and inj.method == rec.method and inj.route in (rec.route, rec.path):
                inj.remaining -= 1
                return inj
        return None


def _bucket_hash(route: str) -> str:
    return hashlib.md5(route.encode()).hexdigest()


def _ratelimit_headers(route: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": _bucket_hash(route),
    }
