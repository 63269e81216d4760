"""What `/metrics` shows (Prometheus' text format): image jobs by how they ended, provider latency and
queues, rate-limit and quota refusals, platform API calls by status, moderation verdicts, and the
process's memory and CPU.

One registry per core, never prometheus_client's global one: several cores in one process (the tests)
keep their own counts. The code paths report through the small methods here, one line per event."""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from types import SimpleNamespace

import aiohttp
import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from bot.providers.catalogue import Catalogue
from bot.providers.concurrency import ConcurrencyLimited


class JobOutcome(StrEnum):
    DONE = "done"  # delivered and charged
    FAILED = "failed"  # the provider failed (or its result was unusable): refunded, the user told why
    REFUNDED = "refunded"  # cancelled, cut off by a shutdown, or its result could not be moderated
    REFUSED = "refused"  # a rate limit, the quota or moderation said no before anything was charged
    WITHHELD = "withheld"  # made and charged, not posted: moderation flagged it
    HELD = "held"  # made and charged, waiting for the moderators' review


# Image generations take seconds to minutes (PROVIDER_DEADLINE_SECONDS is 300 by default).
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, math.inf)
NO_RESPONSE = "error"  # the status label of a call that got no HTTP answer (refused, reset, timed out)

ResponseHook = Callable[[httpx.Response], Awaitable[None]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, open fds
        self._jobs = Counter(
            "atelier_jobs", "Image jobs by how they ended", ["provider", "model", "outcome"], registry=r
        )
        self._provider_seconds = Histogram(
            "atelier_provider_seconds",
            "Time an image provider took over one generation request, its queue wait excluded",
            ["provider", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._refusals = Counter(
            "atelier_refusals", "Requests turned away by a rate limit or a quota", ["use", "rule"], registry=r
        )
        self._platform = Counter(
            "atelier_platform_requests",
            "Platform API calls by HTTP status (429: rate limited; error: no answer)",
            ["platform", "status"],
            registry=r,
        )
        self._moderation = Counter(
            "atelier_moderation_verdicts",
            "Moderation decisions: blocked (a blocklist), clean, flagged, unavailable (the service failed)",
            ["check", "verdict"],
            registry=r,
        )

    # ------------------------------------------------------------------------------ events

    def job(self, provider: str, model: str, outcome: JobOutcome) -> None:
        self._jobs.labels(provider, model, outcome).inc()

    def provider_call(self, provider: str, outcome: str, seconds: float) -> None:
        self._provider_seconds.labels(provider, outcome).observe(seconds)

    def refused(self, use: str, rule: str) -> None:
        """`rule`: rate (the asker's), guild_rate (the whole server's) or quota (used up, or 0: turned off)."""
        self._refusals.labels(use, rule).inc()

    def moderation(self, check: str, verdict: str) -> None:
        self._moderation.labels(check, verdict).inc()

    def platform_call(self, platform: str, status: int | str) -> None:
        self._platform.labels(platform, str(status)).inc()

    # ------------------------------------------------------------------------------- seams

    def watch(self, catalogue: Catalogue) -> None:
        """Time every image provider's generations; their queues are read at each scrape."""
        for name, provider in catalogue.image_providers.items():
            if isinstance(provider, ConcurrencyLimited):
                provider.observe = functools.partial(self.provider_call, name)
        self.registry.register(_ProviderQueues(catalogue))

    def httpx_hook(self, platform: str) -> ResponseHook:
        """An httpx response hook that counts each answer (python-telegram-bot's client takes it)."""

        async def counted(response: httpx.Response) -> None:
            self.platform_call(platform, response.status_code)

        return counted

    def aiohttp_trace(self, platform: str) -> aiohttp.TraceConfig:
        """An aiohttp trace that counts each call and its status (discord.py's `http_trace` takes it)."""
        trace = aiohttp.TraceConfig()

        async def ended(_session: object, _context: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
            self.platform_call(platform, params.response.status)

        async def failed(_session: object, _context: SimpleNamespace, _params: object) -> None:
            self.platform_call(platform, NO_RESPONSE)

        trace.on_request_end.append(ended)
        trace.on_request_exception.append(failed)
        return trace

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _ProviderQueues:
    """Read at each scrape from the providers' limiters: nothing to keep in step."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._catalogue = catalogue

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "atelier_provider_queue_depth", "Generations waiting for a provider slot", labels=["provider"]
        )
        running = GaugeMetricFamily(
            "atelier_provider_running", "Generations a provider is working on", labels=["provider"]
        )
        limit = GaugeMetricFamily(
            "atelier_provider_concurrency_limit",
            "A provider's concurrency limit now (halved on 429/503, growing back per success)",
            labels=["provider"],
        )
        for name, provider in self._catalogue.image_providers.items():
            if isinstance(provider, ConcurrencyLimited):
                waiting.add_metric([name], provider.limiter.waiting)
                running.add_metric([name], provider.limiter.active)
                limit.add_metric([name], provider.limiter.limit)
        yield from (waiting, running, limit)
