"""The optional moderation model: an OpenAI-compatible `POST {MODERATION_API_URL}/moderations`, with
text and images, and per-category thresholds chosen by a scope's strictness.

OpenAI's omni-moderation takes at most one image per request (400 `too_many_images` otherwise), so the
text goes in one request and each image in its own, all at once; the verdict merges their scores. Every
call and its one retry share MODERATION_TIMEOUT_SECONDS."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx
from PIL import Image

from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.images import shrink_for_vision
from bot.providers.base import AnswerTooLarge, ProviderError, UpstreamTimeout
from bot.providers.http_errors import error_text
from bot.providers.probe import Probe, list_models
from bot.providers.retry import retry_after_seconds
from bot.providers.wire import read_capped, transport_failure
from bot.redaction import redact

log = logging.getLogger(__name__)


class Strictness(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


# A category flags at or above its threshold. The API's own `categories[name]: true` also flags at high and
# medium strictness, even under the threshold; low strictness goes by scores alone.
THRESHOLDS = {Strictness.HIGH: 0.3, Strictness.MEDIUM: 0.5, Strictness.LOW: 0.8}
TRUST_API_MARKS = frozenset({Strictness.HIGH, Strictness.MEDIUM})
# Categories stricter than any strictness: they flag at this score (or the API's mark) everywhere, and no
# channel setting can allow them.
ALWAYS = {"sexual/minors": 0.05}

MAX_ANSWER_BYTES = 256 * 1024  # an answer is ~2 KB per input; anything near this is not a moderation answer
_REASON_CHARS = 160


class ModerationUnavailable(Exception):
    """The moderation service could not give a verdict (down, timed out, refused the key, answered
    nonsense). The message is for logs and never holds a secret."""


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    categories: dict[str, float] = field(default_factory=dict)  # the categories over their threshold: score
    scores: dict[str, float] = field(default_factory=dict)  # every category's score, for the audit log
    model: str = ""

    @property
    def summary(self) -> str:
        """`sexual 0.91, violence 0.62`, for moderators."""
        return ", ".join(f"{name} {score:.2f}" for name, score in self.categories.items())


@dataclass(frozen=True)
class _Answer:
    scores: dict[str, float]
    marked: frozenset[str]  # categories the API itself said true
    model: str


class Classifier:
    """None of this is built when MODERATION_API_URL is unset (see `from_settings`)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient, clock: Clock = MONOTONIC) -> None:
        base = str(settings.moderation_api_url or "").rstrip("/")
        self._url = base if base.endswith("/moderations") else f"{base}/moderations"
        key = settings.moderation_api_key.get_secret_value() if settings.moderation_api_key else ""
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._secrets = [key] if key else []
        self._model = settings.moderation_model
        self._timeout = settings.moderation_timeout_seconds
        self._http = http
        self._clock = clock  # Retry-After waits

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient) -> Classifier | None:
        return cls(settings, http) if settings.moderation_api_url else None

    async def probe(self) -> Probe:
        """`atelier doctor`: the key, by listing the service's models (OpenAI-compatible); nothing is sent
        for moderation."""
        return await list_models(self._http, self._url.removesuffix("/moderations"), self._headers)

    async def check(
        self,
        strictness: Strictness,
        *,
        text: str | None = None,
        images: list[bytes] | None = None,
        allowed: frozenset[str] = frozenset(),
    ) -> Verdict:
        """One verdict for the text and images together (flagged if any input is). `allowed` names
        categories not to flag (an age-restricted channel allowing "sexual"; never "sexual/minors").
        Raises ModerationUnavailable."""
        inputs: list[Any] = [text] if text else []
        try:
            async with asyncio.timeout(self._timeout) as budget:
                inputs += await asyncio.gather(*(_image_input(image) for image in images or []))
                if not inputs:
                    return Verdict(flagged=False, model=self._model)
                answers = await self._all(inputs, budget)
        except TimeoutError:
            raise ModerationUnavailable(f"moderation timed out after {self._timeout:g} s") from None
        return judge(answers, strictness, allowed)

    async def _all(self, inputs: list[Any], budget: asyncio.Timeout) -> list[_Answer]:
        """One request per input, in parallel; the first failure cancels the others."""
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._ask(item, budget)) for item in inputs]
        except ExceptionGroup as failures:
            raise _first_unavailable(failures) from None
        return [task.result() for task in tasks]

    async def _ask(self, item: Any, budget: asyncio.Timeout) -> _Answer:
        """One input, with one retry on 429, 5xx or a lost connection, inside the shared budget."""
        for attempt in (1, 2):
            try:
                status, body, response = await self._post(item, budget)
            except httpx.TransportError as exc:
                failure = transport_failure(exc, "POST", self._url)
                if attempt == 2 or isinstance(failure, UpstreamTimeout):
                    raise ModerationUnavailable(self._transport_reason(failure)) from None
                log.info("moderation: %s, retrying once", failure)
                continue
            if status == 200:
                return self._parse(body)
            if attempt == 1 and (status == 429 or status >= 500):
                wait = retry_after_seconds(response) or 0.0
                if wait < _remaining(budget):
                    log.info("moderation: HTTP %d, retrying once", status)
                    await self._clock.sleep(wait)
                    continue
            raise ModerationUnavailable(self._status_reason(response, body))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _post(self, item: Any, budget: asyncio.Timeout) -> tuple[int, bytes, httpx.Response]:
        payload = {"model": self._model, "input": item}
        timeout = max(_remaining(budget), 0.001)
        async with self._http.stream("POST", self._url, json=payload, headers=self._headers, timeout=timeout) as r:
            try:
                body = await read_capped(r.aiter_bytes(), MAX_ANSWER_BYTES, r.headers.get("content-length"))
            except AnswerTooLarge:
                raise ModerationUnavailable(f"answer over {MAX_ANSWER_BYTES} bytes (HTTP {r.status_code})") from None
            return r.status_code, body, r

    def _parse(self, body: bytes) -> _Answer:
        try:
            answer = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModerationUnavailable("answer is not JSON") from None
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or not results:
            raise ModerationUnavailable("answer has no results")
        scores: dict[str, float] = {}
        marked: set[str] = set()
        for result in results:
            raw = result.get("category_scores") if isinstance(result, dict) else None
            if not isinstance(raw, dict) or not raw:
                raise ModerationUnavailable("answer has no category scores")
            for name, score in raw.items():
                if not isinstance(score, int | float) or isinstance(score, bool):
                    raise ModerationUnavailable("answer has a score that is not a number")
                scores[name] = max(scores.get(name, 0.0), float(score))
            categories = result.get("categories")
            if isinstance(categories, dict):
                marked |= {name for name, value in categories.items() if value is True}
        model = answer.get("model")
        return _Answer(scores, frozenset(marked), model if isinstance(model, str) else self._model)

    def _status_reason(self, response: httpx.Response, body: bytes) -> str:
        said = error_text(httpx.Response(response.status_code, content=body, request=response.request))
        reason = f"HTTP {response.status_code}" + (f": {said[:_REASON_CHARS]}" if said.strip() else "")
        return redact(reason, self._secrets)

    def _transport_reason(self, failure: ProviderError) -> str:
        if isinstance(failure, UpstreamTimeout):
            return f"moderation timed out after {self._timeout:g} s"
        return redact(str(failure), self._secrets)


def judge(answers: Iterable[_Answer], strictness: Strictness, allowed: frozenset[str] = frozenset()) -> Verdict:
    """Merge the answers (each category's highest score) and flag by this strictness's thresholds."""
    scores: dict[str, float] = {}
    marked: set[str] = set()
    model = ""
    for answer in answers:
        for name, score in answer.scores.items():
            scores[name] = max(scores.get(name, 0.0), score)
        marked |= answer.marked
        model = model or answer.model
    flagged = _flagged(scores, marked, strictness, allowed - ALWAYS.keys())
    return Verdict(bool(flagged), flagged, scores, model)


def _flagged(
    scores: Mapping[str, float], marked: set[str], strictness: Strictness, allowed: frozenset[str]
) -> dict[str, float]:
    over: dict[str, float] = {}
    for name, score in scores.items():
        if name in allowed:
            continue
        threshold = ALWAYS.get(name, THRESHOLDS[strictness])
        api_says = name in marked and (strictness in TRUST_API_MARKS or name in ALWAYS)
        if score >= threshold or api_says:
            over[name] = score
    return dict(sorted(over.items(), key=lambda item: item[1], reverse=True))


async def _image_input(image: bytes) -> list[dict[str, Any]]:
    """One image as the API takes it: a data: URI, shrunk first (a 50 MB result never goes out whole)."""
    try:
        data, mime = await shrink_for_vision(image)
    except (OSError, ValueError, Image.DecompressionBombError):
        raise ModerationUnavailable("an image could not be read for moderation") from None
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return [{"type": "image_url", "image_url": {"url": url}}]


def _remaining(budget: asyncio.Timeout) -> float:
    when = budget.when()
    return float("inf") if when is None else when - asyncio.get_running_loop().time()


def _first_unavailable(failures: ExceptionGroup) -> BaseException:
    """What a task group's failures mean: the first ModerationUnavailable, unless something else (a bug)
    failed too, which then surfaces whole."""
    _, others = failures.split(ModerationUnavailable)
    if others is not None:
        return failures
    leaf: BaseException = failures
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf
