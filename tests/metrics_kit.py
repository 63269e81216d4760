"""Shared pieces of the health and metrics tests: the endpoint served for a core on 127.0.0.1, and /metrics
scraped over HTTP and read with prometheus_client's own parser, as Prometheus would."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.core import Atelier
from bot.health import HealthServer, Live


class Samples:
    """One scrape: every sample by name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self._values = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.families.values()
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when the scrape has none (a counter that never moved has no labelled sample)."""
        return self._values.get((name, frozenset(labels.items())), 0.0)


@contextlib.asynccontextmanager
async def serving(core: Atelier, platforms: Sequence[Live] = ()) -> AsyncIterator[HealthServer]:
    server = HealthServer(core.store, core.metrics, platforms)
    await server.start("127.0.0.1:0")
    try:
        yield server
    finally:
        await server.stop()


async def get(server: HealthServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=5.0) as http:
        return await http.get(f"http://127.0.0.1:{server.port}{path}")


async def scrape(server: HealthServer) -> Samples:
    answer = await get(server, "/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return Samples(answer.text)


async def health(server: HealthServer) -> tuple[int, dict[str, Any]]:
    answer = await get(server, "/healthz")
    return answer.status_code, answer.json()
