"""compose.yaml without Docker: the file is coherent (every variable a worker gets is a real setting, the proxy
sends to the port and path the workers serve, the Discord shards are split exactly once), and its two worker
services, run as two local `atelier run` processes with their compose environment, behind a round-robin
forwarder in the proxy's place, answer /imagine updates with photos from both processes, and a Vary pressed
under one worker's result is served by the other (shared store, shared DATA_DIR).

Hostnames become 127.0.0.1, each worker gets a free port, the volume a temp folder, the database a shared
SQLite file and, where PostgreSQL is installed (tests/pg_server.py), a throwaway PostgreSQL database; the .env
file is the fakes' settings (FakeTelegram, FakeAgnes)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import itertools
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web
from PIL import Image

from adapters.discord.shards import parse_shard_ids
from bot.config import Settings, load_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.loopback import closed_port, serve
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
TOKEN = "123456:TEST-fake-token-aBcDeFgHiJkLmNoP"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# What an operator puts in .env for compose's own ${...} substitutions.
COMPOSE_VARIABLES = {"ATELIER_HOST": "bot.example.org", "POSTGRES_PASSWORD": "s3cretpass"}
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's substitution: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        value = variables.get(name)
        if (operator in (":-", ":?") and not value) or (operator in ("-", "?") and value is None):
            if operator.endswith("?"):
                raise KeyError(f"{name}: {argument}")
            return argument
        return value or ""

    return _VARIABLE.sub(one, text)


def load_compose(variables: Mapping[str, str] = COMPOSE_VARIABLES) -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE.read_text(), variables))


def workers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run Atelier: built from this repository."""
    return {name: service for name, service in compose["services"].items() if service.get("build") == "."}


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def image_command() -> list[str]:
    """The Dockerfile's CMD (exec form), which the workers run: they set no `command` of their own."""
    match = re.search(r"^CMD\s+(\[.*\])\s*$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert match, "the Dockerfile has an exec-form CMD"
    return list(yaml.safe_load(match.group(1)))


def nginx_config(compose: dict[str, Any]) -> str:
    (mount,) = compose["services"]["proxy"]["configs"]
    return str(compose["configs"][mount["source"]]["content"])


def upstreams(config: str) -> list[tuple[str, int]]:
    block = re.search(r"upstream\s+\w+\s*\{([^}]*)\}", config)
    assert block, "the proxy has an upstream block"
    return [(host, int(port)) for host, port in re.findall(r"server\s+([\w.-]+):(\d+)", block.group(1))]


def proxied_paths(config: str) -> list[str]:
    return re.findall(r"location\s+=\s+(\S+)\s*\{[^}]*proxy_pass", config)


def test_compose_file_is_coherent() -> None:
    compose = load_compose()
    services = compose["services"]
    assert {"postgres", "proxy"} <= set(services)
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    fleet = workers(compose)
    assert len(fleet) == 2
    settings = {name.upper() for name in Settings.model_fields}
    webhook_paths, listen_ports, shard_ids, shard_counts = set(), set(), [], set()
    for name, worker in fleet.items():
        env = environment(worker)
        assert set(env) <= settings, f"{name} sets variables Atelier does not read: {set(env) - settings}"
        load_settings(_env_file=None, telegram_token=TOKEN, **{key.lower(): value for key, value in env.items()})
        assert worker.get("command") in (None, image_command())
        assert worker["env_file"] in (".env", [".env"])
        assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
        # One shared volume for the result files every worker's buttons need.
        assert [v for v in worker["volumes"] if v.split(":")[1] == env["DATA_DIR"]] == [
            f"atelier-data:{env['DATA_DIR']}"
        ]
        database = urlsplit(env["DATABASE_URL"])
        assert database.scheme == "postgresql" and database.hostname == "postgres"
        assert database.username == postgres["environment"]["POSTGRES_USER"]
        assert database.password == postgres["environment"]["POSTGRES_PASSWORD"]
        assert database.path == "/" + postgres["environment"]["POSTGRES_DB"]
        url = urlsplit(env["TELEGRAM_WEBHOOK_URL"])
        assert url.scheme == "https" and url.hostname == COMPOSE_VARIABLES["ATELIER_HOST"] and url.port is None
        webhook_paths.add(url.path)
        listen_ports.add(int(env["TELEGRAM_WEBHOOK_LISTEN"].rpartition(":")[2]))
        count = int(env["DISCORD_SHARD_COUNT"])
        shard_counts.add(count)
        shard_ids += parse_shard_ids(env["DISCORD_SHARD_IDS"], count)
    assert "atelier-data" in compose["volumes"]
    assert len(webhook_paths) == len(listen_ports) == len(shard_counts) == 1  # one bot, one URL, one port
    (count,) = shard_counts
    assert sorted(shard_ids) == list(range(count))  # every shard runs, in exactly one worker

    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx")
    config = nginx_config(compose)
    assert upstreams(config) == [(name, *listen_ports) for name in fleet]
    assert proxied_paths(config) == [*webhook_paths]
    assert "listen 443 ssl;" in config and "443:443" in proxy["ports"]  # Telegram posts to https on 443
    assert set(proxy["depends_on"]) == set(fleet)


def test_compose_needs_the_operators_variables() -> None:
    with pytest.raises(KeyError, match="ATELIER_HOST"):
        load_compose({"POSTGRES_PASSWORD": "x"})


@dataclass
class RoundRobin:
    """The proxy's part: each POST goes to the next worker, path, body and headers unchanged."""

    targets: list[str]
    sent: dict[str, list[int]] = field(default_factory=dict)  # target -> the statuses it answered

    async def start(self) -> str:
        self._next = itertools.cycle(self.targets)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application()
        app.router.add_post("/{path:.*}", self._forward)
        self._runner, port = await serve(app)
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        await self._session.close()
        await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        target = next(self._next)
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", SECRET_HEADER.lower())}
        async with self._session.post(target + request.path, data=await request.read(), headers=headers) as answer:
            self.sent.setdefault(target, []).append(answer.status)
            return web.Response(status=answer.status, body=await answer.read())


@dataclass
class Worker:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path


def local_environment(
    service: dict[str, Any], dotenv: Mapping[str, str], database_url: str, data_dir: Path, port: int
) -> dict[str, str]:
    """What the container would get (env_file, then `environment` over it), with loopback in place of the
    compose network, a database this machine has and a folder in place of the shared volume."""
    env = {**dotenv, **environment(service)}
    env["DATABASE_URL"] = database_url
    assert env["DATA_DIR"] == "/data"
    env["DATA_DIR"] = str(data_dir)
    host, _, _ = env["TELEGRAM_WEBHOOK_LISTEN"].rpartition(":")
    assert host == "0.0.0.0"
    env["TELEGRAM_WEBHOOK_LISTEN"] = f"127.0.0.1:{port}"
    return env


async def start_worker(
    name: str, env: Mapping[str, str], port: int, workdir: Path, argv: list[str] | None = None
) -> Worker:
    """`argv`, by default `atelier run` (the image's command) from this virtual environment, in a directory of
    its own, with only `env` (and PATH) in its environment."""
    if argv is None:
        command = image_command()
        executable = Path(sys.executable).with_name(command[0])
        argv = [str(executable), *command[1:]] if executable.exists() else [sys.executable, "-m", "bot", *command[1:]]
    folder = workdir / name
    folder.mkdir()
    log = folder / "log.txt"
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=folder, env={**base, **env}, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    return Worker(name, port, process, log)


async def stop_worker(worker: Worker) -> int:
    if worker.process.returncode is None:
        worker.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.process.wait(), 15)
        except TimeoutError:
            worker.process.kill()
            await worker.process.wait()
    return worker.process.returncode or 0


@contextlib.asynccontextmanager
async def compose_workers(
    tmp_path: Path, fake: FakeTelegram, agnes: FakeAgnes, database_url: str, data_dir: Path, **dotenv: str
) -> AsyncIterator[tuple[list[Worker], str]]:
    """Both worker services running, registered with the fake Bot API; yields them and the proxy's URL."""
    dotenv = {
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "AGNES_API_KEY": agnes.api_key,
        "AGNES_BASE_URL": agnes.base_url,
        **dotenv,
    }
    running: list[Worker] = []
    proxy: RoundRobin | None = None
    try:
        for name, service in workers(load_compose()).items():
            port = closed_port()
            env = local_environment(service, dotenv, database_url, data_dir, port)
            running.append(await start_worker(name, env, port, tmp_path))
        # Each worker registers the webhook once it listens: both have, or one failed to start.
        try:
            await fake.wait_for("setWebhook", count=len(running), timeout=30)
        except TimeoutError:
            pytest.fail("a worker did not start:\n" + "\n".join(w.log.read_text()[-2000:] for w in running))
        proxy = RoundRobin([f"http://127.0.0.1:{w.port}" for w in running])
        yield running, await proxy.start()
    finally:
        if proxy is not None:
            await proxy.stop()
        for worker in running:
            await stop_worker(worker)


async def query(database_url: str, sql: str) -> dict[Any, Any]:
    """Two-column rows of the shared store as a dict (SQLite file or PostgreSQL)."""
    if database_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
            return dict(db.execute(sql).fetchall())
    import asyncpg

    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        return {row[0]: row[1] for row in await connection.fetch(sql, timeout=10)}
    finally:
        await connection.close(timeout=5)


async def jobs_done(database_url: str, count: int, timeout: float = 10.0) -> None:
    """Wait until the shared store has `count` finished jobs (other processes write it: nothing to await)."""
    for _ in range(int(timeout / 0.02)):
        if len(await query(database_url, "SELECT id, status FROM jobs WHERE status = 'done'")) >= count:
            return
        await asyncio.sleep(0.02)
    raise TimeoutError(f"fewer than {count} jobs finished after {timeout} s")


def logs_of(running: list[Worker]) -> str:
    return "\n".join(f"--- {worker.name}\n{worker.log.read_text()[-3000:]}" for worker in running)


async def two_workers_answer_every_update(tmp_path: Path, database_url: str) -> None:
    agnes = await FakeAgnes(latency=0.2).start()
    fake = FakeTelegram(token=TOKEN, bot_username="AtelierBot")
    await fake.start()
    shared = tmp_path / "volume"  # the atelier-data volume both workers mount as DATA_DIR
    chats = [7001 + i for i in range(6)]
    try:
        async with compose_workers(tmp_path, fake, agnes, database_url, shared) as (running, proxy_url):
            registered = fake.calls("setWebhook")
            hook = urlsplit(registered[0].params["url"])
            assert {call.params["url"] for call in registered} == {f"https://bot.example.org{hook.path}"}
            secret = registered[0].params["secret_token"]
            assert {call.params["secret_token"] for call in registered} == {secret}  # no worker locks another out
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

                async def telegram_posts(update: dict[str, Any]) -> None:
                    """What Telegram does with each update: one POST to the one URL, with the secret."""
                    async with http.post(proxy_url + hook.path, json=update, headers={SECRET_HEADER: secret}) as r:
                        assert r.status == 200

                for chat in chats:  # round-robin: worker-1 gets chats 0, 2, 4, worker-2 chats 1, 3, 5
                    await telegram_posts(fake.push_message(chat, f"/imagine a lighthouse for chat {chat}"))
                try:
                    await fake.wait_for("sendPhoto", count=len(chats), timeout=30)
                except TimeoutError:
                    pytest.fail("not every update was answered:\n" + logs_of(running))
                # A job is closed just after its photo is sent: a press within those milliseconds finds it
                # unfinished ("no longer available"). A person takes longer; the test waits for the store.
                await jobs_done(database_url, len(chats))
                # Vary under worker-2's result, pressed as the 7th update: worker-1 takes it, and needs the
                # result image worker-2 kept (the shared DATA_DIR) and its job (the shared store).
                made_by_2 = next(c for c in fake.calls("sendPhoto") if c.chat_id == chats[1])
                buttons = [key for row in made_by_2.params["reply_markup"]["inline_keyboard"] for key in row]
                vary = next(button["callback_data"] for button in buttons if ":vary:" in button["callback_data"])
                await telegram_posts(fake.push_callback_query(made_by_2.result, vary))
                try:
                    await fake.wait_for("sendPhoto", count=len(chats) + 1, timeout=30)
                except TimeoutError:
                    said = [c.params.get("text") for c in fake.calls("sendMessage")]
                    pytest.fail(f"the Vary press was not answered: {said}\n" + logs_of(running))
            # Each process's instance in the store (a clean stop deletes its row).
            instances = await query(database_url, "SELECT id, pid FROM instances")
            pids = {worker.process.pid: worker.name for worker in running}
    finally:
        await fake.stop()
        await agnes.stop()

    assert [w.process.returncode for w in running] == [0, 0], logs_of(running)  # SIGTERM: both stopped cleanly
    photos = [call for call in fake.calls("sendPhoto") if call.ok]
    assert sorted(call.chat_id for call in photos) == sorted([*chats, chats[1]])  # one each, and the Vary
    for call in photos:  # the image's bytes were uploaded (not a URL passed on)
        assert Image.open(io.BytesIO(call.files["photo"][1])).size == Image.open(io.BytesIO(agnes.image)).size
    requests = agnes.image_requests()
    assert len(requests) == len(chats) + 1 and "image" in requests[-1].body  # the Vary sent the kept image
    assert set(instances.values()) == set(pids)
    worker_of = {instance: pids[pid] for instance, pid in instances.items()}
    done = await query(database_url, "SELECT id, owner FROM jobs WHERE status = 'done'")
    ran = collections.Counter(worker_of[owner] for owner in done.values())
    assert ran == {"worker-1": 4, "worker-2": 3}  # each ran what the proxy sent it
    parents = await query(database_url, "SELECT id, parent_id FROM jobs WHERE parent_id IS NOT NULL")
    ((child, parent),) = parents.items()
    assert (worker_of[done[parent]], worker_of[done[child]]) == ("worker-2", "worker-1")
    assert any((shared / "results").rglob("*")), "the result images are kept on the shared volume"


async def test_two_workers_on_one_sqlite_file(tmp_path: Path) -> None:
    await two_workers_answer_every_update(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


async def test_two_workers_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    """As compose runs them (skipped where PostgreSQL is not installed; CI runs it)."""
    await two_workers_answer_every_update(tmp_path, pg_url)
