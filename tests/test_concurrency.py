"""Adaptive, fair provider concurrency: AIMD on 429/503, Retry-After pauses, round-robin across servers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from bot.providers.base import ImageJob
from bot.providers.concurrency import ConcurrencyLimited, FairLimiter
from bot.providers.registry import build_catalogue
from tests.conftest import make_settings
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.test_provider_concurrency import Gated, Seen


def job(prompt: str, key: str = "") -> ImageJob:
    return ImageJob(prompt=prompt, size=(512, 512), model="m", queue_key=key)


async def test_the_limit_halves_once_per_burst_of_refusals_and_grows_back_per_success() -> None:
    limiter = FairLimiter(8, adaptive=True)
    limiter.congested(None, epoch=0)
    limiter.congested(None, epoch=0)  # the same burst, sent under the old limit: counted once
    assert limiter.limit == 4
    limiter.congested(None, epoch=limiter.epoch)  # refused again under the new limit
    assert limiter.limit == 2
    for _ in range(10):
        limiter.succeeded()
    assert limiter.limit == 8  # back to the ceiling, never past it


async def test_retry_after_pauses_new_generations_until_it_passes() -> None:
    clock = FakeClock()
    inner = Gated()
    limited = ConcurrencyLimited(inner, 4, adaptive=True, clock=clock)
    limited.limiter.congested(2.0)
    seen = Seen()
    task = asyncio.create_task(limited.generate(job("a"), seen))
    await seen.wait_for_position(1)  # a free slot, but the provider asked for a pause
    assert inner.started == []
    clock.advance(2.0)
    await inner.wait_started(1)
    inner.open("a")
    assert await task == [png_bytes()]
    limited.limiter.close()


async def test_thirty_jobs_start_at_once_with_default_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, agnes_api_key="k")
    async with httpx.AsyncClient() as client:
        catalogue = build_catalogue(settings, client)
        agnes = catalogue.image_providers["agnes"]
        assert isinstance(agnes, ConcurrencyLimited)
        inner = Gated()
        limited = ConcurrencyLimited(inner, agnes.limiter.ceiling, adaptive=agnes.limiter.adaptive)
        seen = [Seen() for _ in range(30)]
        tasks = [asyncio.create_task(limited.generate(job(f"p{i}", f"private:{i}"), seen[i])) for i in range(30)]
        await inner.wait_started(30)
        assert all(s.positions == [] for s in seen)  # nobody was queued
        for i in range(30):
            inner.open(f"p{i}")
        await asyncio.gather(*tasks)
        await catalogue.aclose()


async def test_a_server_with_one_job_is_not_starved_by_a_server_with_ten() -> None:
    inner = Gated()
    limited = ConcurrencyLimited(inner, 1)
    running = asyncio.create_task(limited.generate(job("a0", "guild:A"), Seen()))
    await inner.wait_started(1)
    seen_a = [Seen() for _ in range(10)]
    queued_a = []
    for i in range(10):
        queued_a.append(asyncio.create_task(limited.generate(job(f"a{i + 1}", "guild:A"), seen_a[i])))
        await seen_a[i].wait_for_position(i + 1)
    seen_b = Seen()
    queued_b = asyncio.create_task(limited.generate(job("b", "guild:B"), seen_b))
    await seen_b.wait_for_position(1)  # ahead of A's ten: B has nothing running
    await seen_a[0].wait_for_position(2)  # A's next moved back by one, and was told
    inner.open("a0")
    await inner.wait_started(2)
    assert inner.started == ["a0", "b"]  # the next free slot went to B
    inner.open("b")
    for i in range(10):
        inner.open(f"a{i + 1}")
    await asyncio.gather(running, queued_b, *queued_a)
    assert inner.started[2:] == [f"a{i + 1}" for i in range(10)]  # FIFO within a server
    assert limited.limiter.active == 0 and limited.limiter.waiting == 0


async def test_a1111_keeps_a_fixed_cap_of_one(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, None, a1111_base_url="http://127.0.0.1:7860", image_model="a1111:default")
    async with httpx.AsyncClient() as client:
        catalogue = build_catalogue(settings, client)
        a1111 = catalogue.image_providers["a1111"]
        assert isinstance(a1111, ConcurrencyLimited)
        a1111.limiter.congested(None)
        a1111.limiter.succeeded()
        assert a1111.limiter.limit == 1 and not a1111.limiter.adaptive
        await catalogue.aclose()


async def test_a_429_from_agnes_halves_its_limit_and_the_retry_still_delivers(tmp_path: Path) -> None:
    agnes = await FakeAgnes(faults=[429], retry_after="0").start()
    try:
        settings = make_settings(tmp_path, agnes)
        async with httpx.AsyncClient() as client:
            catalogue = build_catalogue(settings, client)
            provider = catalogue.image_providers["agnes"]
            assert isinstance(provider, ConcurrencyLimited)
            images = await provider.generate(
                ImageJob(prompt="a lighthouse", size=(1024, 1024), model="agnes-image-2.1-flash"), Seen()
            )
            assert images == [agnes.image]
            assert len(agnes.image_requests()) == 2  # retried as before
            assert provider.limiter.limit == 64 // 2 + 1  # halved by the 429, one back for the success
            await catalogue.aclose()
    finally:
        await agnes.stop()
