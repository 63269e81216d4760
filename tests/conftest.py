from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.config import Settings, load_settings
from bot.core import Atelier
from tests.fakes.agnes_server import FakeAgnes
from tests.pg_server import pg_cluster, pg_url  # noqa: F401  (fixtures: a throwaway PostgreSQL)
from tests.synapse_server import synapse  # noqa: F401  (a fixture: a throwaway Synapse homeserver)


@pytest.fixture
async def fake_agnes() -> AsyncIterator[FakeAgnes]:
    server = await FakeAgnes().start()
    yield server
    await server.stop()


def make_settings(tmp_path: Path, agnes: FakeAgnes | None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'atelier.db'}",
        "provider_max_retries": 2,
        "provider_deadline_seconds": 10.0,
        "provider_timeout_seconds": 5.0,
        "_env_file": None,
    }
    if agnes is not None:
        values |= {"agnes_api_key": agnes.api_key, "agnes_base_url": agnes.base_url}
    return load_settings(**(values | overrides))


@pytest.fixture
async def core(tmp_path: Path, fake_agnes: FakeAgnes) -> AsyncIterator[Atelier]:
    atelier = await Atelier.start(make_settings(tmp_path, fake_agnes))
    yield atelier
    await atelier.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client for driving one provider directly against its fake."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http
