"""Image generation through an OpenRouter-style chat gateway (seed 002: the Agnic AI Gateway).

`POST {base}/chat/completions` with `modalities: ["image", "text"]`; images come back as data URLs in
`choices[0].message.images[].image_url.url`. The base URL is configurable, so the same class serves
Agnic (`https://api.agnic.ai/v1`) and OpenRouter itself (`https://openrouter.ai/api/v1`)."""

from __future__ import annotations

from typing import Any

import httpx

from bot.images import sniff_mime
from bot.providers.base import (
    BadResult,
    Capabilities,
    ContentRefused,
    ImageJob,
    ModelInfo,
    ProgressCallback,
    ProviderError,
)
from bot.providers.encoding import data_uri
from bot.providers.json_lift import parse_json
from bot.providers.probe import Probe, ProbeStatus, json_of, list_models, probe_get
from bot.providers.upstream import Upstream
from bot.redaction import header_secrets, redact
from bot.sizes import nearest_ratio

# The aspect ratio table in seed 002 (1:1 1024x1024, 16:9 1344x768, 9:16 768x1344, 4:3 1184x864, 3:2 1248x832).
SEED_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:2")
_REPLY_PREVIEW = 300


def chat_image_capabilities(aspect_ratios: tuple[str, ...]) -> Capabilities:
    return Capabilities(text_to_image=True, image_to_image=True, max_input_images=4, aspect_ratios=aspect_ratios)


class OpenRouterImages:
    def __init__(
        self,
        upstream: Upstream,
        base_url: str,
        api_key: str,
        *,
        name: str = "agnic",
        models: list[str],
        aspect_ratios: tuple[str, ...] = SEED_ASPECT_RATIOS,
        description: str = "Agnic AI Gateway",
    ) -> None:
        self.name = name
        self._upstream = upstream
        self._base = base_url.rstrip("/")
        self._url = self._base + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._models = models
        self._aspect_ratios = aspect_ratios
        self._description = description

    def models(self) -> list[ModelInfo]:
        caps = chat_image_capabilities(self._aspect_ratios)
        return [ModelInfo(self.name, model, caps, self._description) for model in self._models]

    def build_body(self, job: ImageJob) -> dict[str, Any]:
        content: str | list[dict[str, Any]] = job.prompt
        if job.images:
            content = [{"type": "text", "text": job.prompt}]
            content += [
                {"type": "image_url", "image_url": {"url": data_uri(image, sniff_mime(image))}} for image in job.images
            ]
        return {
            "model": job.model,
            "messages": [{"role": "user", "content": content}],
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": nearest_ratio(job.size, list(self._aspect_ratios))},
        }

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        response = await self._upstream.send("POST", self._url, headers=self._headers, json_body=self.build_body(job))
        return await self.read_images(parse_json(response))

    async def read_images(self, body: Any) -> list[bytes]:
        message, finish_reason = _first_message(body)
        urls = [url for url in (_image_url(item) for item in message.get("images") or []) if url]
        if not urls:
            # The model's own words explain a missing image; an upstream echoing our key gets it masked.
            text = redact(_text_of(message.get("content")), header_secrets(self._headers))
            if finish_reason in ("content_filter", "safety") or message.get("refusal"):
                raise ContentRefused(f"finish_reason={finish_reason}: {text[:200]}")
            raise ProviderError(f"no images in answer (finish_reason={finish_reason}): {text[:200]}", _no_image(text))
        return [await self._upstream.download(url) for url in urls]

    async def probe(self) -> Probe:
        """OpenRouter's `GET /key` (the key's own record; its model list is public, so it proves nothing);
        where the gateway has no such route (Agnic: 404), `GET /models`, which Agnic answers only with a key."""

        def read(response: httpx.Response) -> Probe | None:
            if response.status_code in (404, 405):
                return Probe(ProbeStatus.REACHABLE, "no /key route")
            body = json_of(response)
            record = body.get("data") if isinstance(body, dict) else None
            if not response.is_success or not isinstance(record, dict):
                return None
            left = record.get("limit_remaining")
            return Probe(
                ProbeStatus.ACCEPTED, "key accepted" + (f", {left} credits left on it" if left is not None else "")
            )

        probe = await probe_get(self._upstream.client, self._base + "/key", self._headers, read)
        if probe.status is ProbeStatus.REACHABLE:
            return await list_models(self._upstream.client, self._base, self._headers)
        return probe

    async def aclose(self) -> None:
        return None


def _first_message(body: Any) -> tuple[dict[str, Any], str | None]:
    if not isinstance(body, dict):
        raise BadResult(f"answer is not an object: {str(body)[:200]}")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        error = body.get("error")
        if error:
            # OpenRouter can answer 200 with an error object when the upstream model failed.
            raise ProviderError(f"gateway error: {str(error)[:300]}", "The provider's model failed.")
        raise BadResult(f"no choices in answer: {str(body)[:200]}")
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BadResult("the answer has no message")
    return message, choice.get("finish_reason")


def _image_url(item: Any) -> str | None:
    """`{"type": "image_url", "image_url": {"url": ...}}`, tolerating `image_url` as a bare string or `url`."""
    if isinstance(item, str):
        return item
    if not isinstance(item, dict):
        return None
    inner = item.get("image_url")
    if isinstance(inner, dict):
        inner = inner.get("url")
    url = inner or item.get("url")
    return url if isinstance(url, str) and url.startswith(("data:", "http://", "https://")) else None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    if isinstance(content, list):
        return " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict)).strip()
    return ""


def _no_image(text: str) -> str:
    if not text:
        return "The model answered without an image. Try rephrasing the prompt as a request for a picture."
    if len(text) > _REPLY_PREVIEW:
        text = text[:_REPLY_PREVIEW].rstrip() + "…"
    return f"The model answered without an image. It said: “{text}”"
