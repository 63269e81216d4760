"""A fake OpenAI moderation API (`POST /v1/moderations`) on 127.0.0.1, speaking the documented shapes.

    fake = await FakeModeration().start()          # base_url "http://127.0.0.1:<port>/v1", key fake.api_key
    settings: MODERATION_API_URL=fake.base_url, MODERATION_API_KEY=fake.api_key
    fake.flag_text("forbidden phrase", sexual=0.97)        # text containing it (case-insensitive) gets these scores
    fake.flag_images(colour=(255, 0, 0), violence=0.9)     # an image mostly of that colour gets these scores
    fake.fail(status=500, times=2)                         # also 429 (Retry-After: fake.retry_after), 401, ...
    fake.fail(status="timeout")                            # hangs until the fake stops
    fake.fail(status="garbage")                            # 200 whose body is not JSON
    fake.fail(status="no_results")                         # 200 with "results": []
    fake.fail(status="huge")                               # 200 with a 4 MB JSON answer
    fake.latency = 0.5                                     # seconds before every answer
    fake.api_key = None                                    # accept any (or no) Authorization header
    fake.moderation_requests()   # [Recorded(method, path, headers, body)], every request, also refused ones
    fake.texts_sent(), fake.images_sent()  # what was asked about; images decoded: SeenImage(width, height, mime, size)
    await fake.wait_until(lambda: len(fake.moderation_requests()) == 2)

Score keywords are category names with `/` and `-` written `_`: `sexual_minors`, `self_harm_intent`,
`harassment_threatening`, `illicit_violent`. A category's `categories[name]` (the API's own verdict) is true at
score >= `fake.api_threshold` (0.5) unless `marked=` names the categories to mark true instead. Categories not set
score `fake.base_score`. Scores from several matching rules combine by maximum.

Faithful to the real API: `input` is a string, a list of strings (one result each), or a list of typed parts
(`{"type": "text", "text"}` / `{"type": "image_url", "image_url": {"url"}}`, one result for all of them); at most
one image per request (400 `too_many_images`, as OpenAI answers); images are data: URIs (an http URL is accepted
and scored clean, the fake fetches nothing); a wrong key is 401 with OpenAI's error JSON. Deliberately harsher
than OpenAI: the 401 message repeats the whole key sent (OpenAI masks most of it), so a client that shows
upstream error text leaks it in tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from tests.fakes.loopback import LoopbackFake, Recorded, record

CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# What omni-moderation also reads in images (the others are text only).
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)
_BY_KEYWORD = {name.replace("/", "_").replace("-", "_"): name for name in CATEGORIES}
SNAPSHOT = "omni-moderation-2024-09-26"
Pixels = list[tuple[int, int, int]]  # an image sampled down to 32x32


def category_scores(**scores: float) -> dict[str, float]:
    """`sexual_minors=0.9` -> {"sexual/minors": 0.9}; an unknown keyword is a test's typo, so it fails."""
    unknown = set(scores) - set(_BY_KEYWORD)
    if unknown:
        raise TypeError(f"unknown moderation categories: {sorted(unknown)}")
    return {_BY_KEYWORD[keyword]: score for keyword, score in scores.items()}


@dataclass(frozen=True)
class SeenImage:
    width: int
    height: int
    mime: str
    size: int  # bytes of the decoded image


@dataclass
class _Rule:
    scores: dict[str, float]
    marked: frozenset[str] | None


@dataclass
class FakeModeration(LoopbackFake):
    """Behaviour knobs are plain attributes and the methods below; a test sets them between requests."""

    base_path: ClassVar[str] = "/v1"

    api_key: str | None = "test-moderation-key"
    latency: float = 0.0
    retry_after: str = "0"
    api_threshold: float = 0.5
    base_score: float = 0.0001
    max_images: int = 1
    requests: list[Recorded] = field(default_factory=list)
    on_request: Callable[[Recorded], None] | None = None

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._changed = asyncio.Event()
        self._release = asyncio.Event()
        self._faults: list[int | str] = []
        self._text_rules: list[tuple[str, _Rule]] = []
        self._image_rules: list[tuple[tuple[int, int, int], _Rule]] = []
        self._texts: list[str] = []
        self._images: list[SeenImage] = []

    # --- knobs -------------------------------------------------------------------------------------

    def flag_text(self, phrase: str, *, marked: Iterable[str] | None = None, **scores: float) -> None:
        self._text_rules.append((phrase.casefold(), _Rule(category_scores(**scores), _marked(marked))))

    def flag_images(
        self, colour: tuple[int, int, int], *, marked: Iterable[str] | None = None, **scores: float
    ) -> None:
        self._image_rules.append((colour, _Rule(category_scores(**scores), _marked(marked))))

    def fail(self, status: int | str = 500, times: int = 1) -> None:
        """The next `times` requests fail: an HTTP status, "timeout", "garbage", "no_results" or "huge"."""
        self._faults += [status] * times

    def release(self) -> None:
        self._release.set()

    # --- what a test inspects ----------------------------------------------------------------------

    def moderation_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/moderations")]

    def texts_sent(self) -> list[str]:
        return list(self._texts)

    def images_sent(self) -> list[SeenImage]:
        return list(self._images)

    # --- the API -----------------------------------------------------------------------------------

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/moderations", self._moderations)
        router.add_get("/v1/models", self._models)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        """OpenAI's model list (free); a wrong key is answered as OpenAI does, quoting the key it was sent."""
        self.requests.append(await record(request))
        self._changed.set()
        sent = request.headers.get("Authorization", "")
        if self.api_key is not None and sent != f"Bearer {self.api_key}":
            return _error(401, f"Incorrect API key provided: {sent.removeprefix('Bearer ')}.", "invalid_api_key")
        model = {"id": SNAPSHOT, "object": "model", "created": 1727222400, "owned_by": "system"}
        return web.json_response({"object": "list", "data": [model]})

    async def _moderations(self, request: web.Request) -> web.StreamResponse:
        recorded = await record(request)
        self.requests.append(recorded)
        self._changed.set()
        if self.on_request:
            self.on_request(recorded)
        sent = request.headers.get("Authorization", "")
        if self.api_key is not None and sent != f"Bearer {self.api_key}":
            key = sent.removeprefix("Bearer ")
            return _error(401, f"Incorrect API key provided: {key}.", "invalid_api_key")
        fault = self._faults.pop(0) if self._faults else None
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "timeout":
            await self._release.wait()  # no answer until the fake stops
            return web.Response(status=503)
        if isinstance(fault, int):
            headers = {"Retry-After": self.retry_after} if fault == 429 else {}
            return _error(fault, f"fake failure {fault}", None, headers)
        if fault == "garbage":
            return web.Response(text="<html>Bad gateway</html>", content_type="application/json")
        if fault == "huge":
            return web.json_response({"id": "modr-huge", "model": SNAPSHOT, "results": [], "pad": "x" * 4_000_000})
        body = recorded.body
        if not isinstance(body, dict) or "input" not in body:
            return _error(400, "'input' is a required property", None, param="input")
        try:
            groups = self._inputs(body["input"])
        except _BadInput as exc:
            return _error(400, str(exc), exc.code, param="input")
        model = body.get("model") or "omni-moderation-latest"
        results = [] if fault == "no_results" else [self._result(texts, images) for texts, images in groups]
        return web.json_response(
            {
                "id": f"modr-{uuid.uuid4().hex[:24]}",
                "model": SNAPSHOT if model == "omni-moderation-latest" else model,
                "results": results,
            }
        )

    def _inputs(self, value: Any) -> list[tuple[list[str], list[Pixels | None]]]:
        """The request's inputs, grouped as results will be: (texts, images' sampled pixels)."""
        if isinstance(value, str):
            self._texts.append(value)
            return [([value], [])]
        if not isinstance(value, list) or not value:
            raise _BadInput("'input' must be a string, an array of strings or an array of objects")
        if all(isinstance(item, str) for item in value):
            self._texts += value
            return [([item], []) for item in value]
        texts: list[str] = []
        images: list[Pixels | None] = []
        seen: list[SeenImage] = []
        for part in value:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
                decoded = self._image(part["image_url"]["url"])
                images.append(decoded[1] if decoded else None)
                seen += [decoded[0]] if decoded else []
            else:
                raise _BadInput(f"Invalid input part: {str(part)[:80]}")
        if len(images) > self.max_images:
            raise _BadInput(f"Number of images ({len(images)}) exceeds maximum of {self.max_images}", "too_many_images")
        self._texts += texts
        self._images += seen
        return [(texts, images)]

    def _image(self, url: str) -> tuple[SeenImage, Pixels] | None:
        if not url.startswith("data:"):
            return None  # a URL the real API would fetch; this fake scores it clean
        header, _, payload = url.partition(",")
        if not header.endswith(";base64"):
            raise _BadInput("Image data URIs must be base64", "invalid_image_format")
        try:
            data = base64.b64decode(payload, validate=True)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                seen = SeenImage(image.width, image.height, Image.MIME.get(image.format or "", "?"), len(data))
                pixels = _sample(image)
        except (binascii.Error, UnidentifiedImageError, OSError) as exc:
            raise _BadInput("Invalid image: could not decode the data URI", "invalid_image_format") from exc
        return seen, pixels

    def _result(self, texts: list[str], images: list[Pixels | None]) -> dict[str, Any]:
        scores = dict.fromkeys(CATEGORIES, self.base_score)
        marked: set[str] = set()
        matched = [rule for phrase, rule in self._text_rules if any(phrase in text.casefold() for text in texts)]
        matched += [rule for colour, rule in self._image_rules if any(_mostly(pixels, colour) for pixels in images)]
        for rule in matched:
            for name, score in rule.scores.items():
                scores[name] = max(scores[name], score)
            marked |= rule.marked if rule.marked is not None else set()
        explicit = any(rule.marked is not None for rule in matched)
        categories = {
            name: name in marked or (not explicit and score >= self.api_threshold) for name, score in scores.items()
        }
        applied = {
            name: (["text"] if texts else []) + (["image"] if images and name in IMAGE_CATEGORIES else [])
            for name in CATEGORIES
        }
        return {
            "flagged": any(categories.values()),
            "categories": categories,
            "category_scores": scores,
            "category_applied_input_types": applied,
        }


class _BadInput(Exception):
    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


def _marked(names: Iterable[str] | None) -> frozenset[str] | None:
    if names is None:
        return None
    found = frozenset(names)
    if found - set(CATEGORIES):
        raise TypeError(f"unknown moderation categories: {sorted(found - set(CATEGORIES))}")
    return found


def _sample(image: Image.Image) -> Pixels:
    raw = image.convert("RGB").resize((32, 32), Image.Resampling.NEAREST).tobytes()
    return [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]


def _mostly(pixels: Pixels | None, colour: tuple[int, int, int], tolerance: int = 24) -> bool:
    """More than half the pixels are `colour` (within a tolerance: JPEG and resizing shift them a little)."""
    if not pixels:
        return False
    near = sum(all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True)) for pixel in pixels)
    return near * 2 > len(pixels)


def _error(
    status: int, message: str, code: str | None, headers: dict[str, str] | None = None, param: str | None = None
) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return web.json_response({"error": error}, status=status, headers=headers)


async def _serve() -> None:
    fake = await FakeModeration().start()
    print(f"fake moderation API at {fake.base_url} (key {fake.api_key})", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_serve())
