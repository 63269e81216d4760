"""A self-hosted AUTOMATIC1111 / Forge / SD.Next server (`/sdapi/v1/*`).

The generation call blocks until the image is done, so while it is in flight a side task reads
`GET /sdapi/v1/progress` about once a second and reports `progress * 100`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

import httpx

from bot.providers.base import (
    BadResult,
    Capabilities,
    ImageJob,
    ModelInfo,
    ProgressCallback,
    ProviderError,
    ProviderProgress,
)
from bot.providers.encoding import decode_base64
from bot.providers.json_lift import parse_json
from bot.providers.probe import Probe, ProbeStatus, counted, json_of, probe_get
from bot.providers.upstream import Upstream

log = logging.getLogger(__name__)
# A progress answer without its preview image is a few hundred bytes.
_PROGRESS_BYTES = 256 * 1024

A1111_CAPABILITIES = Capabilities(
    text_to_image=True,
    image_to_image=True,
    mask=True,
    max_input_images=1,
    seed=True,
    negative_prompt=True,
    progress=True,
    strength=True,
)


def basic_auth(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


class A1111Images:
    name = "a1111"

    def __init__(
        self,
        upstream: Upstream,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        model_name: str = "default",
        denoising_strength: float = 0.6,
        progress_interval: float = 1.0,
        interrupt_on_cancel: bool = True,
    ) -> None:
        self._upstream = upstream
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": basic_auth(username, password or "")} if username else {}
        self._model_name = model_name
        self._denoising_strength = denoising_strength
        self._progress_interval = progress_interval
        # Only safe when this bot is the server's sole user and runs one job at a time (concurrency 1).
        self._interrupt_on_cancel = interrupt_on_cancel

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(self.name, self._model_name, A1111_CAPABILITIES, "Stable Diffusion (AUTOMATIC1111 API)")]

    def route(self, job: ImageJob) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt or "",
            "seed": job.seed if job.seed is not None else -1,
            "width": job.size[0],
            "height": job.size[1],
            "batch_size": max(1, job.count),
            "n_iter": 1,
        }
        if not job.images:
            return "/sdapi/v1/txt2img", body
        body["init_images"] = [base64.b64encode(job.images[0]).decode("ascii")]
        body["denoising_strength"] = self._denoising_strength if job.strength is None else job.strength
        if job.mask is not None:
            body["mask"] = base64.b64encode(job.mask).decode("ascii")
        return "/sdapi/v1/img2img", body

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        path, body = self.route(job)
        watcher = asyncio.create_task(self._watch_progress(progress))
        try:
            response = await self._upstream.send("POST", self._base + path, headers=self._headers, json_body=body)
        except asyncio.CancelledError:
            if self._interrupt_on_cancel:
                await self._interrupt()
            raise
        finally:
            watcher.cancel()
            await asyncio.wait([watcher])
        answer = parse_json(response)
        images = answer.get("images") if isinstance(answer, dict) else None
        if not isinstance(images, list) or not images:
            raise BadResult(f"A1111 answered without images: {str(answer)[:200]}")
        # A1111 may append extra images (ControlNet detect maps); the batch comes first.
        return [decode_base64(str(image).split(",", 1)[-1]) for image in images[: max(1, job.count)]]

    async def _watch_progress(self, progress: ProgressCallback) -> None:
        url = self._base + "/sdapi/v1/progress"
        last: float | None = None
        while True:
            await self._upstream.clock.sleep(self._progress_interval)
            try:
                async with asyncio.timeout(5.0):
                    response = await self._upstream.send_once(
                        "GET",
                        url,
                        params={"skip_current_image": "true"},
                        headers=self._headers,
                        max_bytes=_PROGRESS_BYTES,
                    )
                fraction = response.json().get("progress") if response.is_success else None
            except (httpx.HTTPError, TimeoutError, ProviderError, ValueError, AttributeError) as exc:
                log.debug("A1111 progress read failed: %r", exc)
                continue
            if isinstance(fraction, int | float) and not isinstance(fraction, bool):
                percent = round(max(0.0, min(1.0, float(fraction))) * 100, 1)
                if percent != last:
                    last = percent
                    with contextlib.suppress(Exception):
                        await progress(ProviderProgress(percent=percent, stage="working"))

    async def _interrupt(self) -> None:
        """Best effort: stop the GPU working on an image nobody will see."""
        try:
            async with asyncio.timeout(2.0):
                await self._upstream.send_once(
                    "POST", self._base + "/sdapi/v1/interrupt", headers=self._headers, max_bytes=_PROGRESS_BYTES
                )
        except (httpx.HTTPError, TimeoutError, ProviderError) as exc:
            log.info("A1111 interrupt failed: %r", exc)

    async def probe(self) -> Probe:
        """`GET /sdapi/v1/sd-models`: the checkpoints the server has (and whether it takes our login)."""

        def read(response: httpx.Response) -> Probe | None:
            models = json_of(response)
            if not response.is_success or not isinstance(models, list):
                return None
            return Probe(ProbeStatus.ACCEPTED, f"{counted(len(models), 'checkpoint')} on the server")

        return await probe_get(self._upstream.client, self._base + "/sdapi/v1/sd-models", self._headers, read)

    async def aclose(self) -> None:
        return None
