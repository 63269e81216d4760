"""APIFRAME Flux (seed 003): submit `POST /flux-imagine`, then poll `POST /fetch` (and/or take webhooks).

Known shapes: submit answers `{"task_id"}`; fetch answers `{"status": "processing", "percentage": 40}`
(percentage sometimes a string) while running and `{"task_id", "image_url", ...}` with no status when
done; failures are `status: "failed"` with `message` or `error` (third-party code, unconfirmed)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
from typing import Any

import httpx

from bot.providers.apiframe_webhook import ApiframeWebhooks
from bot.providers.base import (
    BadResult,
    Capabilities,
    ContentRefused,
    ImageJob,
    ModelInfo,
    ProgressCallback,
    ProviderError,
    ProviderProgress,
    TaskExpired,
    UpstreamTimeout,
)
from bot.providers.http_errors import error_for, error_text
from bot.providers.json_lift import parse_json
from bot.providers.probe import Probe, ProbeStatus, json_of, probe_get
from bot.providers.retry import RETRYABLE_STATUSES
from bot.providers.upstream import Upstream
from bot.sizes import nearest_ratio

log = logging.getLogger(__name__)

DEFAULT_MODELS = ("flux-pro", "flux-pro-1.1", "flux-pro-1.1-ultra", "flux-dev", "flux-schnell")
APIFRAME_CAPABILITIES = Capabilities(
    text_to_image=True, image_to_image=True, max_input_images=1, seed=True, progress=True
)
# flux-pro-1.1-ultra takes `image_prompt_strength`: how far the image prompt holds the result.
ULTRA_CAPABILITIES = dataclasses.replace(APIFRAME_CAPABILITIES, strength=True)
ULTRA_RATIOS = ["21:9", "16:9", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:21"]
MIN_SIDE, MAX_SIDE, SIDE_STEP = 256, 1440, 32
IN_PROGRESS = frozenset({"staged", "queued", "pending", "starting", "processing", "running", "in_progress"})
FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled"})
_REFUSAL_HINTS = ("moderat", "safety", "nsfw", "content policy", "content_policy", "inappropriate", "banned")
# Consecutive transient failures of /fetch (timeouts, 5xx) tolerated before giving up.
_MAX_FETCH_FAILURES = 5


def _ultra(model: str) -> bool:
    return model.endswith("ultra")


def fit_size(size: tuple[int, int]) -> tuple[int, int]:
    """Scale into APIFRAME's 256..1440 per side keeping the shape, on a 32-pixel grid."""
    width, height = size
    scale = min(1.0, MAX_SIDE / max(width, height))
    scale = max(scale, MIN_SIDE / min(width, height)) if min(width, height) * scale < MIN_SIDE else scale

    def snap(side: float) -> int:
        return max(MIN_SIDE, min(MAX_SIDE, round(side / SIDE_STEP) * SIDE_STEP))

    return snap(width * scale), snap(height * scale)


def parse_percentage(value: Any) -> float | None:
    """`40`, `40.5`, `"40"` or `"40%"` -> 40.0; anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            return None
    else:
        return None
    return max(0.0, min(100.0, number))


class ApiframeImages:
    name = "apiframe"

    def __init__(
        self,
        upstream: Upstream,
        base_url: str,
        api_key: str,
        *,
        models: list[str],
        auth_scheme: str = "",
        poll_initial: float = 1.0,
        poll_max: float = 5.0,
        webhooks: ApiframeWebhooks | None = None,
        webhook_poll_interval: float = 15.0,
    ) -> None:
        base = base_url.rstrip("/")
        self._upstream = upstream
        self._submit_url = base + "/flux-imagine"
        self._fetch_url = base + "/fetch"
        self._account_url = base + "/account"
        scheme = auth_scheme.strip()
        self._headers = {"Authorization": f"{scheme} {api_key}" if scheme else api_key}
        self._models = models
        self._poll_initial = poll_initial
        self._poll_max = max(poll_max, poll_initial)
        self.webhooks = webhooks
        self._webhook_poll_interval = webhook_poll_interval

    def models(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                self.name, model, ULTRA_CAPABILITIES if _ultra(model) else APIFRAME_CAPABILITIES, "Flux via APIFRAME"
            )
            for model in self._models
        ]

    def build_body(self, job: ImageJob, webhooks: ApiframeWebhooks | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": job.model, "prompt": job.prompt}
        if _ultra(job.model):
            body["aspect_ratio"] = nearest_ratio(job.size, ULTRA_RATIOS)
        else:
            body["width"], body["height"] = fit_size(job.size)
        if job.seed is not None:
            body["seed"] = job.seed
        if job.images:
            body["image_prompt"] = base64.b64encode(job.images[0]).decode("ascii")
            if job.strength is not None and _ultra(job.model):
                # Our strength is how much may change; APIFRAME's is how much the input image holds.
                body["image_prompt_strength"] = round(1.0 - job.strength, 2)
        if webhooks is not None:
            body["webhook_url"] = webhooks.url
            body["webhook_secret"] = webhooks.secret
        return body

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]:
        deadline = self._upstream.deadline()
        webhooks = await self._webhooks_ready()
        # APIFRAME takes no idempotency key: a submit is sent again only if it certainly never arrived.
        response = await self._upstream.send(
            "POST", self._submit_url, headers=self._headers, json_body=self.build_body(job, webhooks), idempotent=False
        )
        answer = parse_json(response)
        task_id = answer.get("task_id") if isinstance(answer, dict) else None
        if not task_id:
            raise BadResult(f"APIFRAME accepted the job without a task_id: {str(answer)[:200]}")
        task_id = str(task_id)
        updates = webhooks.watch(task_id) if webhooks is not None else None
        try:
            url = await self._wait_for_result(task_id, updates, progress, deadline)
        finally:
            if webhooks is not None:
                webhooks.unwatch(task_id)
        return [await self._upstream.download(url)]

    async def _webhooks_ready(self) -> ApiframeWebhooks | None:
        """Webhooks when configured and listening; started here if `atelier run` has not already."""
        if self.webhooks is None:
            return None
        if not self.webhooks.running:
            try:
                await self.webhooks.start()
            except OSError as exc:
                log.warning("APIFRAME webhook receiver could not start (%s); polling only", exc)
                return None
        return self.webhooks

    async def _wait_for_result(
        self,
        task_id: str,
        updates: asyncio.Queue[dict[str, Any]] | None,
        progress: ProgressCallback,
        deadline: float,
    ) -> str:
        """Poll /fetch with a growing interval (slower while webhooks also deliver) until the image URL."""
        clock = self._upstream.clock
        interval = self._webhook_poll_interval if updates is not None else self._poll_initial
        failures = 0
        last: ProviderProgress | None = None
        while True:
            remaining = deadline - clock.now()
            if remaining <= 0:
                raise UpstreamTimeout(f"APIFRAME task {task_id} did not finish before the deadline")
            body: dict[str, Any] | None = None
            from_webhook = False
            if updates is not None:
                body = await self._next_webhook(updates, min(interval, remaining))
                from_webhook = body is not None
            else:
                await clock.sleep(min(interval, remaining))
                interval = min(self._poll_max, interval * 1.5)
            if body is None:
                body = await self._fetch(task_id, deadline)
                if body is None:
                    failures += 1
                    if failures > _MAX_FETCH_FAILURES:
                        raise UpstreamTimeout(f"APIFRAME /fetch kept failing for task {task_id}")
                    continue
                failures = 0
            url = _image_url(body)
            if url:
                return url
            update = _interpret_pending(body, task_id, from_webhook=from_webhook)
            if update is not None and update != last:
                last = update
                await progress(update)

    async def _next_webhook(self, updates: asyncio.Queue[dict[str, Any]], seconds: float) -> dict[str, Any] | None:
        """The next webhook body, or None when `seconds` pass on the clock first (time for a poll)."""
        arrival = asyncio.ensure_future(updates.get())
        interval = asyncio.ensure_future(self._upstream.clock.sleep(seconds))
        try:
            await asyncio.wait((arrival, interval), return_when=asyncio.FIRST_COMPLETED)
        finally:
            pending = [task for task in (arrival, interval) if not task.done()]
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        # A body that arrived is taken even when the interval ended at the same moment: it is not lost.
        return arrival.result() if arrival.done() and not arrival.cancelled() else None

    async def _fetch(self, task_id: str, deadline: float) -> dict[str, Any] | None:
        """One poll. None means a transient fault (timeout, connection, 5xx, 429) worth another try."""
        remaining = max(0.01, deadline - self._upstream.clock.now())
        try:
            async with asyncio.timeout(remaining):
                response = await self._upstream.send_once(
                    "POST", self._fetch_url, json_body={"task_id": task_id}, headers=self._headers
                )
        except (httpx.TimeoutException, TimeoutError, httpx.TransportError) as exc:
            log.info("APIFRAME fetch for %s failed: %r", task_id, exc)
            return None
        if response.status_code == 404 or (response.status_code == 400 and "not found" in error_text(response).lower()):
            raise TaskExpired(f"APIFRAME task {task_id}: HTTP {response.status_code}")
        if response.status_code in RETRYABLE_STATUSES:
            log.info("APIFRAME fetch for %s: HTTP %s", task_id, response.status_code)
            return None
        if not response.is_success:
            raise error_for(response)
        body = parse_json(response)
        if not isinstance(body, dict):
            raise BadResult(f"APIFRAME fetch answered with a non-object: {str(body)[:200]}")
        return body

    async def probe(self) -> Probe:
        """`GET /account` (free: the plan and credits left); 401 means the key is wrong."""

        def read(response: httpx.Response) -> Probe | None:
            body = json_of(response)
            if not response.is_success or not isinstance(body, dict):
                return None
            credits = body.get("credits")
            return Probe(
                ProbeStatus.ACCEPTED, "key accepted" + (f", {credits} credits left" if credits is not None else "")
            )

        return await probe_get(self._upstream.client, self._account_url, self._headers, read)

    async def aclose(self) -> None:
        if self.webhooks is not None:
            await self.webhooks.stop()


def _image_url(body: dict[str, Any]) -> str | None:
    url = body.get("image_url")
    if isinstance(url, str) and url:
        return url
    urls = body.get("image_urls")
    if isinstance(urls, list) and urls and isinstance(urls[0], str):
        return urls[0]
    return None


def _interpret_pending(body: dict[str, Any], task_id: str, *, from_webhook: bool) -> ProviderProgress | None:
    """Raise for a failed task; otherwise the progress to show (None when there is nothing new to say)."""
    status = str(body.get("status") or "").lower()
    if status in FAILED:
        reason = str(body.get("message") or body.get("error") or body.get("errors") or "no reason given")[:300]
        if any(hint in reason.lower() for hint in _REFUSAL_HINTS):
            raise ContentRefused(f"APIFRAME task {task_id} refused: {reason}")
        # The reason is the provider's text: kept for the operator's log, never shown to users.
        raise ProviderError(f"APIFRAME task {task_id} failed: {reason}", "APIFRAME could not make this image.")
    if status in ("finished", "completed", "done") and not from_webhook:
        raise BadResult(f"APIFRAME task {task_id} finished without an image_url: {str(body)[:200]}")
    if status and status not in IN_PROGRESS and status not in ("finished", "completed", "done"):
        log.info("APIFRAME task %s has an unknown status %r; still waiting", task_id, status)
    stage = "queued" if status in ("staged", "queued", "pending") else "working"
    return ProviderProgress(percent=parse_percentage(body.get("percentage")), stage=stage)
