"""The Matrix adapter's liveness (what /healthz reports) against a real Synapse: alive while it syncs,
down once the homeserver no longer accepts its token; one process syncs an account while another stands
by; and `atelier doctor`'s Matrix line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from adapters.doctor import run_doctor
from tests import test_matrix
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.matrix_kit import Bot, Person, body_of, running_bot, sent_by
from tests.synapse_server import Synapse
from tests.test_matrix import member_joined

pytestmark = pytest.mark.timeout(90)
alice = test_matrix.alice  # a fixture


async def test_alive_while_syncing_and_down_once_the_homeserver_drops_its_token(
    synapse: Synapse, fake_agnes: FakeAgnes, tmp_path: Path
) -> None:
    async with running_bot(synapse, fake_agnes, tmp_path) as bot:
        adapter = bot.adapter
        assert adapter is not None and adapter.alive() and adapter.failure is not None
        token = adapter.client.access_token
        async with httpx.AsyncClient(timeout=10) as client:  # the device is logged out, as an admin might
            answer = await client.post(
                f"{synapse.url}/_matrix/client/v3/logout", headers={"Authorization": f"Bearer {token}"}
            )
        assert answer.status_code == 200

        said = await asyncio.wait_for(adapter.failure, 30)

        assert "no longer accepts the bot's token" in said and token not in said
        assert not adapter.alive()


async def test_doctor_accepts_the_bots_token_and_names_the_setting_when_it_is_wrong(
    synapse: Synapse, fake_agnes: FakeAgnes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    account = synapse.register("doctor-bot")
    monkeypatch.setenv("MATRIX_HOMESERVER", synapse.url)
    monkeypatch.setenv("MATRIX_USER_ID", account.user_id)
    settings = make_settings(tmp_path, fake_agnes)

    async def matrix_lines(token: str) -> tuple[int, list[str]]:
        monkeypatch.setenv("MATRIX_ACCESS_TOKEN", token)
        lines: list[str] = []
        status = await run_doctor(settings, out=lines.append)
        assert all(token not in line for line in lines)
        return status, [line for line in lines if " matrix" in line or "platforms" in line]

    assert await matrix_lines(account.access_token) == (0, [f"ok   matrix: {account.user_id}, token accepted"])
    assert await matrix_lines("syt_not_a_token") == (
        1,
        ["FAIL matrix: the homeserver refused the token: check MATRIX_ACCESS_TOKEN"],
    )


async def test_a_second_process_on_the_account_stands_by_and_takes_over_when_the_first_stops(
    synapse: Synapse, fake_agnes: FakeAgnes, tmp_path: Path, alice: Person
) -> None:
    async with running_bot(synapse, fake_agnes, tmp_path) as first:
        # The same account and database (compose's two workers on one .env and PostgreSQL).
        second = Bot(synapse, first.account, fake_agnes, tmp_path, {}, adapter_options={"standby_seconds": 0.2})
        await second.start()
        try:
            assert second.adapter is not None and second.adapter.alive()  # standing by is healthy
            room = await alice.create_room(first.user_id)
            await alice.wait_for(room, member_joined(first.user_id))
            await alice.say(room, "!help")
            await alice.wait_for(room, lambda e: sent_by(first.user_id)(e) and "!imagine" in body_of(e))
            await alice.say(room, "!usage")
            await alice.wait_for(room, lambda e: sent_by(first.user_id)(e) and "Images today" in body_of(e))
            answers = [e for e in await alice.events(room) if sent_by(first.user_id)(e)]
            assert len(answers) == 2  # one answer each: the second process did not answer too

            await first.stop()  # its lease goes with it
            await alice.say(room, "!models")

            *_, models = await alice.wait_for(room, sent_by(first.user_id), count=3)  # the third answer
            assert "agnes-image-2.1-flash" in body_of(models) and second.adapter.alive()
        finally:
            await second.stop()
