"""What the upstream itself spent on each job, as the fake measured it (FakeAgnes.processing: its latency plus
its own timer's lateness and parsing), so a benchmark's overhead is the bot's time and not the fake's
oversleep. A fake in another process hands its figures over at GET /bench/processing."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
from aiohttp import web

from tests.fakes.agnes_server import FakeAgnes

ROUTE = "/bench/processing"


@dataclass
class TimedAgnes(FakeAgnes):
    def routes(self, router: web.UrlDispatcher) -> None:
        super().routes(router)
        router.add_get(ROUTE, self._processing)

    async def _processing(self, request: web.Request) -> web.Response:
        return web.json_response(self.processing)


async def fetch_processing(base_url: str) -> dict[str, float]:
    """Prompt -> seconds, from a TimedAgnes at `base_url` (its /v1 base)."""
    root = base_url.removesuffix(FakeAgnes.base_path)
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(root + ROUTE)
        answer.raise_for_status()
        return answer.json()


def by_tag(processing: dict[str, float]) -> dict[str, float]:
    """The same figures keyed by each prompt's `#tag`, the part a benchmark puts in to tell its jobs apart."""
    tagged = {}
    for prompt, seconds in processing.items():
        if found := re.search(r"#(\S+)", prompt):
            tagged[found.group(1)] = seconds
    return tagged
