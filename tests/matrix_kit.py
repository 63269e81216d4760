"""The user's side of the Matrix tests: a person's client on the client-server API (plain httpx), and the
real adapter with a real core against the session's Synapse and FakeAgnes. Waits poll the room with a
deadline; nothing sleeps to synchronise."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nio import AsyncClient, AsyncClientConfig, LoginResponse, SyncResponse
from nio.crypto.attachments import decrypt_attachment

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.settings import load_matrix_settings
from adapters.platforms import shut_down
from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.synapse_server import Account, Synapse

Event = dict[str, Any]
WAIT_SECONDS = 30.0


class Person:
    """Someone in Element, as far as the homeserver can tell: messages, uploads, reactions, power levels."""

    def __init__(self, synapse: Synapse, account: Account) -> None:
        self.user_id = account.user_id
        self.http = httpx.AsyncClient(
            base_url=f"{synapse.url}/_matrix/client/v3",
            headers={"Authorization": f"Bearer {account.access_token}"},
            timeout=10.0,
        )
        self._media = f"{synapse.url}/_matrix"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = await self.http.request(method, path, **kwargs)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def create_room(self, *invite: str, encrypted: bool = False, direct: bool = False) -> str:
        body: dict[str, Any] = {"invite": list(invite), "preset": "private_chat", "is_direct": direct}
        if encrypted:
            body["initial_state"] = [
                {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}
            ]
        return (await self._json("POST", "/createRoom", json=body))["room_id"]

    async def join(self, room_id: str) -> None:
        await self._json("POST", f"/join/{room_id}", json={})

    async def send(self, room_id: str, content: Event, event_type: str = "m.room.message") -> str:
        path = f"/rooms/{room_id}/send/{event_type}/{uuid.uuid4().hex}"
        return (await self._json("PUT", path, json=content))["event_id"]

    async def say(self, room_id: str, text: str, *, thread: str | None = None, reply_to: str | None = None) -> str:
        content: Event = {"msgtype": "m.text", "body": text}
        if thread is not None:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": reply_to is None,
                                       "m.in_reply_to": {"event_id": reply_to or thread}}  # fmt: skip
        elif reply_to is not None:
            content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
        return await self.send(room_id, content)

    async def send_image(self, room_id: str, data: bytes, mime: str = "image/png") -> str:
        upload = await self.http.post(
            f"{self._media}/media/v3/upload", content=data, headers={"Content-Type": mime}, params={"filename": "a.png"}
        )
        assert upload.status_code == 200, upload.text
        info = {"mimetype": mime, "size": len(data)}
        content = {"msgtype": "m.image", "body": "a.png", "url": upload.json()["content_uri"], "info": info}
        return await self.send(room_id, content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, {"m.relates_to": relation}, "m.reaction")

    async def set_power(self, room_id: str, user_id: str, level: int) -> None:
        levels = await self._json("GET", f"/rooms/{room_id}/state/m.room.power_levels/")
        levels.setdefault("users", {})[user_id] = level
        await self._json("PUT", f"/rooms/{room_id}/state/m.room.power_levels/", json=levels)

    async def download(self, mxc: str) -> bytes:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        answer = await self.http.get(f"{self._media}/client/v1/media/download/{server}/{media_id}")
        assert answer.status_code == 200, answer.text
        return answer.content

    async def events(self, room_id: str) -> list[Event]:
        """The room's latest events, oldest first."""
        data = await self._json("GET", f"/rooms/{room_id}/messages", params={"dir": "b", "limit": 100})
        return list(reversed(data["chunk"]))

    async def wait_for(self, room_id: str, match: Callable[[Event], bool], count: int = 1) -> list[Event]:
        """The first `count` events matching, once there are that many (polled, with a deadline)."""
        found: list[Event] = []
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while True:
                    found = [event for event in await self.events(room_id) if match(event)]
                    if len(found) >= count:
                        return found[:count]
                    await asyncio.sleep(0.1)
        except TimeoutError:
            seen = [(e.get("type"), e.get("sender"), e.get("content")) for e in await self.events(room_id)]
            raise AssertionError(f"{len(found)} of {count} events came; the room has: {seen}") from None


def sent_by(user_id: str, msgtype: str | None = None, event_type: str = "m.room.message") -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        content = event.get("content", {})
        if event.get("sender") != user_id or event.get("type") != event_type:
            return False
        if content.get("m.relates_to", {}).get("rel_type") == "m.replace":
            return False  # an edit, not a message of its own
        return msgtype is None or content.get("msgtype") == msgtype

    return match


def body_of(event: Event) -> str:
    return event.get("content", {}).get("body", "")


@dataclass
class Bot:
    """The bot's account, and the adapter with its core while it runs (`restart` keeps the database)."""

    synapse: Synapse
    account: Account
    agnes: FakeAgnes
    tmp_path: Path
    overrides: dict[str, Any]
    core_overrides: dict[str, Any] = field(default_factory=dict)  # the core's settings (moderation, say)
    adapter_options: dict[str, Any] = field(default_factory=dict)  # MatrixAdapter's own (standby_seconds)
    core: Atelier | None = None
    adapter: MatrixAdapter | None = None

    @property
    def user_id(self) -> str:
        return self.account.user_id

    async def start(self) -> None:
        settings = make_settings(
            self.tmp_path, self.agnes, **({"rate_limit_per_user_per_minute": 60} | self.core_overrides)
        )
        matrix = load_matrix_settings(
            _env_file=None,
            matrix_homeserver=self.synapse.url,
            matrix_user_id=self.account.user_id,
            **({"matrix_password": self.account.password, "matrix_edit_seconds": 0.3} | self.overrides),
            matrix_sync_timeout_seconds=5.0,
        )
        core = await Atelier.start(settings)
        adapter = MatrixAdapter(core, settings, matrix, **self.adapter_options)
        try:
            await adapter.start()
        except BaseException:
            await core.close()
            raise
        self.core, self.adapter = core, adapter

    async def stop(self) -> None:
        if self.core is not None and self.adapter is not None:
            await shut_down(self.core, [self.adapter], grace=5.0)
            await self.core.close(drain_seconds=0.0)
        self.core = self.adapter = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@asynccontextmanager
async def running_bot(
    synapse: Synapse,
    agnes: FakeAgnes,
    tmp_path: Path,
    account: Account | None = None,
    core: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Bot]:
    """`overrides`: MATRIX_* settings (the bot signs in with its password unless they say otherwise);
    `core`: the core's."""
    bot = Bot(synapse, account or synapse.register("atelier"), agnes, tmp_path, overrides, core or {})
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


class EncryptedPerson:
    """Someone whose client does end-to-end encryption (matrix-nio with vodozemac, as the bot): a device with
    keys, its own sync loop, and every timeline event it has seen, decrypted where it could be."""

    def __init__(self, synapse: Synapse, account: Account, keys_dir: Path) -> None:
        keys_dir.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
        self.client = AsyncClient(synapse.url, account.user_id, store_path=str(keys_dir), config=config)
        self.user_id = account.user_id
        self._password = account.password
        self.seen: list[Event] = []
        self._stop = asyncio.Event()
        self._sync: asyncio.Task[None] | None = None

    async def start(self) -> EncryptedPerson:
        assert isinstance(await self.client.login(self._password, device_name="tests"), LoginResponse)
        await self._upkeep()
        self._sync = asyncio.create_task(self._sync_forever())
        return self

    async def _upkeep(self) -> None:
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def _sync_forever(self) -> None:
        while not self._stop.is_set():
            response = await self.client.sync(timeout=500)
            if isinstance(response, SyncResponse):
                for joined in response.rooms.join.values():
                    self.seen += [event.source for event in joined.timeline.events]
            await self._upkeep()

    async def aclose(self) -> None:
        self._stop.set()
        if self._sync is not None:
            await self._sync
        await self.client.close()

    async def create_room(self, *invite: str) -> str:
        state = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        response = await self.client.room_create(invite=list(invite), initial_state=state, is_direct=True)
        return response.room_id  # type: ignore[union-attr]

    async def say(self, room_id: str, text: str) -> str:
        content = {"msgtype": "m.text", "body": text}
        response = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        return response.event_id  # type: ignore[union-attr]

    async def wait_for(self, match: Callable[[Event], bool], count: int = 1) -> list[Event]:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                found = [event for event in self.seen if match(event)]
                if len(found) >= count:
                    return found[:count]
                await asyncio.sleep(0.1)

    async def download_file(self, file: Event) -> bytes:
        """An encrypted attachment, fetched and decrypted with the keys its event carried."""
        response = await self.client.download(file["url"])
        return decrypt_attachment(response.body, file["key"]["k"], file["hashes"]["sha256"], file["iv"])  # type: ignore[union-attr]
