"""The per-provider concurrency cap: FIFO order, queue positions, clean cancellation; and the registry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bot.providers.a1111 import A1111Images
from bot.providers.apiframe import ApiframeImages
from bot.providers.base import Capabilities, ImageJob, ModelInfo, ProviderProgress
from bot.providers.concurrency import ConcurrencyLimited, FairLimiter
from bot.providers.registry import build_catalogue, webhook_receivers
from tests.conftest import make_settings
from tests.fakes.images import png_bytes


class Gated:
    """An inner provider whose generations finish only when the test opens their gate."""

    name = "gated"

    def __init__(self) -> None:
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()

    def models(self) -> list[ModelInfo]:
        return [ModelInfo(self.name, "m", Capabilities())]

    async def generate(self, job: ImageJob, progress) -> list[bytes]:
        self.started.append(job.prompt)
        self.changed.set()
        await self.gates.setdefault(job.prompt, asyncio.Event()).wait()
        return [png_bytes()]

    def open(self, prompt: str) -> None:
        self.gates.setdefault(prompt, asyncio.Event()).set()

    async def wait_started(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.started) < count:
                self.changed.clear()
                await self.changed.wait()

    async def aclose(self) -> None:
        return None


class Seen:
    def __init__(self) -> None:
        self.updates: list[ProviderProgress] = []
        self.changed = asyncio.Event()

    async def __call__(self, update: ProviderProgress) -> None:
        self.updates.append(update)
        self.changed.set()

    @property
    def positions(self) -> list[int]:
        return [u.queue_position for u in self.updates if u.queue_position is not None]

    async def wait_for_position(self, position: int) -> None:
        async with asyncio.timeout(5):
            while not self.positions or self.positions[-1] != position:
                self.changed.clear()
                await self.changed.wait()


def job(prompt: str) -> ImageJob:
    return ImageJob(prompt=prompt, size=(512, 512), model="m")


async def test_waiters_run_in_order_and_see_their_place_move_up() -> None:
    inner = Gated()
    limited = ConcurrencyLimited(inner, 1)
    seen = {name: Seen() for name in "abc"}
    tasks = {"a": asyncio.create_task(limited.generate(job("a"), seen["a"]))}
    await inner.wait_started(1)
    # Each arrives once the one before has taken its place.
    tasks["b"] = asyncio.create_task(limited.generate(job("b"), seen["b"]))
    await seen["b"].wait_for_position(1)
    tasks["c"] = asyncio.create_task(limited.generate(job("c"), seen["c"]))
    await seen["c"].wait_for_position(2)
    assert seen["a"].updates == []  # ran at once: never queued
    assert seen["b"].positions == [1]

    inner.open("a")
    await inner.wait_started(2)
    await seen["c"].wait_for_position(1)
    assert inner.started == ["a", "b"]
    assert seen["b"].updates[-1] == ProviderProgress(stage="working")  # the queue notice is cleared

    inner.open("b")
    inner.open("c")
    results = await asyncio.gather(*tasks.values())
    assert all(result == [png_bytes()] for result in results)
    assert inner.started == ["a", "b", "c"]
    assert seen["c"].positions == [2, 1]
    assert limited.limiter.active == 0 and limited.limiter.waiting == 0


async def test_cancel_while_queued_leaves_the_queue_cleanly() -> None:
    inner = Gated()
    limited = ConcurrencyLimited(inner, 1)
    first = asyncio.create_task(limited.generate(job("a"), Seen()))
    await inner.wait_started(1)
    seen_b, seen_c = Seen(), Seen()
    second = asyncio.create_task(limited.generate(job("b"), seen_b))
    await seen_b.wait_for_position(1)
    third = asyncio.create_task(limited.generate(job("c"), seen_c))
    await seen_c.wait_for_position(2)

    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    await seen_c.wait_for_position(1)  # moved up when the one ahead left
    assert limited.limiter.waiting == 1

    inner.open("a")
    inner.open("c")
    await asyncio.gather(first, third)
    assert inner.started == ["a", "c"]
    assert limited.limiter.active == 0 and limited.limiter.waiting == 0


async def test_cancel_just_after_being_handed_the_slot_passes_it_on() -> None:
    limiter = FairLimiter(1)
    await limiter.acquire()
    seen_waiter, seen_next = Seen(), Seen()
    waiter = asyncio.create_task(limiter.acquire(seen_waiter))
    await seen_waiter.wait_for_position(1)
    next_in_line = asyncio.create_task(limiter.acquire(seen_next))
    await seen_next.wait_for_position(2)
    limiter.release()  # hands the slot to `waiter`...
    waiter.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await waiter
    async with asyncio.timeout(5):
        await next_in_line
    assert limiter.active == 1 and limiter.waiting == 0
    limiter.release()
    assert limiter.active == 0


async def test_failures_release_the_slot() -> None:
    class Failing(Gated):
        async def generate(self, job: ImageJob, progress) -> list[bytes]:
            raise RuntimeError("boom")

    limited = ConcurrencyLimited(Failing(), 2)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await limited.generate(job("x"), Seen())
    assert limited.limiter.active == 0


async def test_registry_builds_every_configured_provider_behind_a_limit(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        None,
        agnic_api_key="agnic_tok_x",
        apiframe_api_key="af",
        apiframe_models="flux-pro,flux-dev",
        public_base_url="https://bot.example.org",
        webhook_listen="127.0.0.1:0",
        relay_api_key="relay_sk_x",
        relay_models="flux-2-pro,qwen",
        a1111_base_url="http://127.0.0.1:7860",
        a1111_username="u",
        a1111_password="p",
        image_model="relay:qwen",
    )
    async with httpx.AsyncClient() as client:
        catalogue = build_catalogue(settings, client)
        assert {m.qualified for m in catalogue.image_models()} == {
            "agnic:google/gemini-2.0-flash",
            "apiframe:flux-pro",
            "apiframe:flux-dev",
            "relay:flux-2-pro",
            "relay:qwen",
            "a1111:default",
        }
        providers = catalogue.image_providers
        assert all(isinstance(p, ConcurrencyLimited) for p in providers.values())
        assert providers["a1111"].limiter.limit == 1  # type: ignore[attr-defined]
        assert isinstance(providers["a1111"].inner, A1111Images)  # type: ignore[attr-defined]
        apiframe = providers["apiframe"].inner  # type: ignore[attr-defined]
        assert isinstance(apiframe, ApiframeImages)
        [receiver] = webhook_receivers(catalogue)
        assert receiver.url == "https://bot.example.org/webhooks/apiframe"
        assert len(receiver.secret) >= 32  # generated when APIFRAME_WEBHOOK_SECRET is unset
        await catalogue.aclose()


async def test_agnes_keeps_its_own_model_when_image_model_names_another_provider(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, agnes_api_key="k", image_model="relay:qwen")
    async with httpx.AsyncClient() as client:
        catalogue = build_catalogue(settings, client)
        assert [m.qualified for m in catalogue.image_models()] == ["agnes:agnes-image-2.1-flash"]
