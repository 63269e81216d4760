"""Agnes Image 2.1 Flash (seed 000): text-to-image and image-to-image over `POST /images/generations`."""

from __future__ import annotations

from typing import Any

from bot.images import sniff_mime
from bot.providers.base import BadResult, Capabilities, ImageJob, ModelInfo, ProgressCallback
from bot.providers.encoding import data_uri, decode_base64
from bot.providers.json_lift import parse_json
from bot.providers.probe import Probe, list_models
from bot.providers.upstream import Upstream
from bot.sizes import format_size

AGNES_IMAGE_CAPABILITIES = Capabilities(text_to_image=True, image_to_image=True, max_input_images=4)


class AgnesImages:
    name = "agnes"

    def __init__(
        self,
        upstream: Upstream,
        base_url: str,
        api_key: str,
        *,
        models: list[str],
    ) -> None:
        self._upstream = upstream
        self._base = base_url.rstrip("/")
        self._url = self._base + "/images/generations"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._models = models

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(self.name, name, AGNES_IMAGE_CAPABILITIES, "Agnes Image") for name in self._models]

    def build_body(self, job: ImageJob) -> dict[str, Any]:
        body: dict[str, Any] = {"model": job.model, "prompt": job.prompt, "size": format_size(job.size)}
        if job.images:
            # Image-to-image asks for base64 inside extra_body; never `response_format` at the top level.
            body["image"] = [data_uri(image, sniff_mime(image)) for image in job.images]
            body["extra_body"] = {"response_format": "b64_json"}
        else:
            body["return_base64"] = True
        return body

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        response = await self._upstream.send("POST", self._url, headers=self._headers, json_body=self.build_body(job))
        return await self.read_images(parse_json(response, lift="b64_json"))

    async def read_images(self, body: Any) -> list[bytes]:
        """Accept base64 or URL in every case: the service has answered with a URL when asked for base64."""
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise BadResult(f"no images in answer: {str(body)[:200]}")
        images = []
        for item in items:
            if not isinstance(item, dict):
                raise BadResult("image entry is not an object")
            if item.get("b64_json"):
                images.append(decode_base64(item["b64_json"]))
            elif item.get("url"):
                images.append(await self._upstream.download(item["url"]))
            else:
                raise BadResult("image entry has neither b64_json nor url")
        return images

    async def probe(self) -> Probe:
        """The key, checked by listing the models (OpenAI-compatible): nothing is generated."""
        return await list_models(self._upstream.client, self._base, self._headers)

    async def aclose(self) -> None:
        return None
