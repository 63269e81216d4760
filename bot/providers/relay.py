"""Relay gateway (seed 004, relaygpu.com): one route per model family, sync or async.

Every submit carries `Idempotency-Key` (the job's key), so a retried submit is never paid twice.
Async mode (`"async": true`) answers 202 with the task id under `task_id` (docs) or `task_address`
(seed); `GET /v2/tasks/{id}?wait=N` long-polls until `completed` or `failed`; 404 means it expired."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from bot.providers.base import (
    BadResult,
    Capabilities,
    ContentRefused,
    ImageJob,
    ModelInfo,
    Overloaded,
    ProgressCallback,
    ProviderError,
    ProviderProgress,
    TaskExpired,
    UpstreamTimeout,
)
from bot.providers.encoding import decode_base64
from bot.providers.http_errors import error_for
from bot.providers.json_lift import parse_json
from bot.providers.probe import Probe, ProbeStatus, json_of, probe_get
from bot.providers.retry import RETRYABLE_STATUSES
from bot.providers.upstream import Upstream
from bot.sizes import format_size, nearest_ratio

log = logging.getLogger(__name__)

GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536")
_MAX_POLL_FAILURES = 5


@dataclass(frozen=True)
class RelayModel:
    name: str
    generate_path: str
    edit_path: str | None  # None: image inputs go in the generate body (flux) or are not taken
    capabilities: Capabilities
    description: str


RELAY_MODELS: dict[str, RelayModel] = {
    model.name: model
    for model in (
        RelayModel(
            "flux-2-pro",
            "/v2/image/flux/generate",
            None,
            Capabilities(text_to_image=True, image_to_image=True, max_input_images=4, seed=True),
            "FLUX.2 pro via Relay",
        ),
        RelayModel(
            "gemini-3",
            "/v2/image/gemini-3/generate",
            None,
            Capabilities(text_to_image=True, aspect_ratios=GEMINI_RATIOS),
            "Gemini 3 Pro Image via Relay",
        ),
        RelayModel(
            "gpt-image",
            "/v2/image/gpt-image/generate",
            "/v2/image/gpt-image/edit",
            Capabilities(text_to_image=True, image_to_image=True, mask=True, max_input_images=1, sizes=GPT_IMAGE_SIZES),
            "GPT Image via Relay",
        ),
        RelayModel(
            "stable-diffusion",
            "/v2/automatic1111/sdapi/v1/txt2img",
            None,
            Capabilities(text_to_image=True, negative_prompt=True),
            "Stable Diffusion (AUTOMATIC1111) via Relay",
        ),
        RelayModel(
            "qwen",
            "/v2/image/qwen/generate",
            "/v2/image/qwen/edit",
            Capabilities(text_to_image=True, image_to_image=True, max_input_images=1, seed=True),
            "Qwen Image via Relay",
        ),
    )
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _snap32(side: int) -> int:
    return max(64, round(side / 32) * 32)


def _snap8(side: int) -> int:
    return max(64, round(side / 8) * 8)


def gemini_image_size(size: tuple[int, int]) -> str:
    longest = max(size)
    return "1K" if longest <= 1024 else "2K" if longest <= 2048 else "4K"


class RelayImages:
    name = "relay"

    def __init__(
        self,
        upstream: Upstream,
        base_url: str,
        api_key: str,
        *,
        models: list[str] | None = None,
        use_async: bool = True,
        poll_wait: int = 10,
        poll_interval: float = 1.0,
    ) -> None:
        unknown = [m for m in models or [] if m not in RELAY_MODELS]
        if unknown:
            raise ValueError(f"unknown Relay model(s) {', '.join(unknown)}; known: {', '.join(RELAY_MODELS)}")
        self._upstream = upstream
        self._base = base_url.rstrip("/")
        self._headers = {"X-API-Key": api_key}
        self._models = [RELAY_MODELS[m] for m in models] if models else list(RELAY_MODELS.values())
        self._use_async = use_async
        self._poll_wait = max(1, min(30, poll_wait))
        self._poll_interval = poll_interval

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(self.name, m.name, m.capabilities, m.description) for m in self._models]

    def route(self, job: ImageJob) -> tuple[str, dict[str, Any]]:
        """The path and JSON body for this job."""
        model = RELAY_MODELS.get(job.model)
        if model is None:
            raise ProviderError(f"unknown Relay model {job.model}", f"Relay does not offer a model '{job.model}'.")
        body: dict[str, Any] = {"prompt": job.prompt}
        path = model.edit_path if job.images and model.edit_path else model.generate_path
        if model.name == "flux-2-pro":
            body["width"], body["height"] = _snap32(job.size[0]), _snap32(job.size[1])
            body["output_format"] = "png"
            for index, image in enumerate(job.images[:4]):
                body["input_image" if index == 0 else f"input_image_{index + 1}"] = _b64(image)
        elif model.name == "gemini-3":
            body["aspect_ratio"] = nearest_ratio(job.size, list(GEMINI_RATIOS))
            body["image_size"] = gemini_image_size(job.size)
        elif model.name == "gpt-image":
            wanted = format_size(job.size)
            body["size"] = wanted if wanted in GPT_IMAGE_SIZES else "1024x1024"
            body["n"] = max(1, min(4, job.count))
            if job.images:
                body["image"] = _b64(job.images[0])
                if job.mask is not None:
                    body["mask"] = _b64(job.mask)
        elif model.name == "stable-diffusion":
            # Seed 004's route: an A1111 txt2img body; `model` would pick the checkpoint (Relay's default kept).
            body["width"], body["height"] = _snap8(job.size[0]), _snap8(job.size[1])
            if job.negative_prompt:
                body["negative_prompt"] = job.negative_prompt
        elif model.name == "qwen":
            body["size"] = format_size(job.size)
            if job.images:
                body["image"] = _b64(job.images[0])
        if job.seed is not None and model.capabilities.seed:
            body["seed"] = job.seed
        if self._use_async:
            body["async"] = True
        return path, body

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        deadline = self._upstream.deadline()
        path, body = self.route(job)
        headers = {**self._headers, "Idempotency-Key": job.idempotency_key or f"atelier-{uuid.uuid4().hex}"}
        response = await self._upstream.send("POST", self._base + path, headers=headers, json_body=body)
        answer = parse_json(response)
        if not isinstance(answer, dict):
            raise BadResult(f"Relay answered with a non-object: {str(answer)[:200]}")
        if _has_images(answer):
            return await self._read_images(answer)
        task_id = answer.get("task_id") or answer.get("task_address") or answer.get("id")
        if not task_id:
            raise BadResult(f"Relay answered with neither images nor a task id: {str(answer)[:200]}")
        result = await self._wait_for_task(str(task_id), progress, deadline)
        return await self._read_images(result)

    async def _wait_for_task(self, task_id: str, progress: ProgressCallback, deadline: float) -> Any:
        url = f"{self._base}/v2/tasks/{task_id}"
        clock = self._upstream.clock
        failures = 0
        last: ProviderProgress | None = None
        while True:
            remaining = deadline - clock.now()
            if remaining <= 0:
                raise UpstreamTimeout(f"Relay task {task_id} did not finish before the deadline")
            wait = max(1, min(self._poll_wait, int(remaining)))
            task = await self._poll(url, wait, remaining)
            if task is None:
                failures += 1
                if failures > _MAX_POLL_FAILURES:
                    raise UpstreamTimeout(f"Relay task {task_id}: polling kept failing")
                await clock.sleep(min(self._poll_interval * 2**failures, max(0.0, deadline - clock.now())))
                continue
            failures = 0
            status = str(task.get("status") or "").lower()
            if status in ("completed", "succeeded", "success", "done"):
                return task.get("result") if task.get("result") is not None else task
            if status in ("failed", "error", "cancelled", "canceled", "expired"):
                raise _task_failure(task_id, task)
            update = ProviderProgress(stage="queued" if status in ("queued", "pending") else "working")
            if update != last:
                last = update
                await progress(update)
            await clock.sleep(min(self._poll_interval, max(0.0, deadline - clock.now())))

    async def _poll(self, url: str, wait: int, remaining: float) -> dict[str, Any] | None:
        """One long-poll. None means a transient fault worth another try."""
        try:
            async with asyncio.timeout(remaining):  # not wait_for: on 3.11 it can swallow a racing cancel
                response = await self._upstream.send_once("GET", url, params={"wait": wait}, headers=self._headers)
        except (httpx.TimeoutException, TimeoutError, httpx.TransportError) as exc:
            log.info("Relay poll %s failed: %r", url, exc)
            return None
        if response.status_code == 404:
            raise TaskExpired(f"Relay task expired: GET {url} -> 404")
        if response.status_code in RETRYABLE_STATUSES:
            return None
        if not response.is_success:
            raise error_for(response)
        body = parse_json(response)
        if not isinstance(body, dict):
            raise BadResult(f"Relay task answer is not an object: {str(body)[:200]}")
        return body

    async def _read_images(self, result: Any) -> list[bytes]:
        """`{"images": [b64 | url | data URI | {url|b64_json}]}`, `{"urls": [...]}`, or a bare list."""
        items: Any = result
        if isinstance(result, dict):
            items = result.get("images") or result.get("urls") or result.get("data") or []
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not items:
            raise BadResult(f"Relay result holds no images: {str(result)[:200]}")
        images = []
        for item in items:
            if isinstance(item, dict):
                item = item.get("url") or item.get("b64_json") or item.get("image") or ""
            if not isinstance(item, str) or not item:
                raise BadResult("Relay image entry is empty")
            if item.startswith(("http://", "https://", "data:")):
                images.append(await self._upstream.download(item))
            else:
                images.append(decode_base64(item))
        return images

    async def probe(self) -> Probe:
        """`GET /v2/customer/credits`: a dashboard or partner key reads its balance; an inference key is
        recognised and refused the route (403 CREDENTIAL_NOT_PERMITTED); a wrong key is 401 INVALID_API_KEY."""

        def read(response: httpx.Response) -> Probe | None:
            body = json_of(response)
            error = body.get("error") if isinstance(body, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            if response.status_code == 403 and code == "CREDENTIAL_NOT_PERMITTED":
                return Probe(ProbeStatus.ACCEPTED, "key accepted (an inference key may not read the balance)")
            if response.is_success and isinstance(body, dict) and body.get("balance") is not None:
                return Probe(ProbeStatus.ACCEPTED, f"key accepted (balance {body['balance']})")
            return None

        return await probe_get(self._upstream.client, self._base + "/v2/customer/credits", self._headers, read)

    async def aclose(self) -> None:
        return None


def _has_images(answer: dict[str, Any]) -> bool:
    return bool(answer.get("images") or answer.get("urls"))


def _task_failure(task_id: str, task: dict[str, Any]) -> ProviderError:
    error = task.get("error")
    code = str(task.get("error_code") or "")
    message = ""
    if isinstance(error, dict):
        code = code or str(error.get("code") or "")
        message = str(error.get("message") or error.get("detail") or "")
    elif error:
        message = str(error)
    message = message or str(task.get("detail") or "no reason given")
    detail = f"Relay task {task_id} failed: {code} {message}".strip()
    upper = code.upper()
    if upper == "CONTENT_POLICY_DECLINED" or "content polic" in message.lower():
        return ContentRefused(detail)
    if upper in ("CAPACITY_EXHAUSTED", "RATE_LIMITED"):
        return Overloaded(detail)
    # The message is the provider's text: kept for the operator's log, never shown to users.
    return ProviderError(detail, "Relay could not make this image.")
