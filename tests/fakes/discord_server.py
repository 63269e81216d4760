"""A protocol-faithful fake Discord (REST v10 + gateway + CDN) for end-to-end tests.

The real discord.py client connects to it over 127.0.0.1::

    fake = FakeDiscord()
    await fake.start()
    with fake.patched_discord():          # Route.BASE + DiscordWebSocket.DEFAULT_GATEWAY
        client = discord.Client(intents=..., guild_ready_timeout=0.05)
        task = asyncio.create_task(client.start(fake.token))
        ...
    await fake.stop()

What it models (ground truth: discord.py 2.7.1 sources + the Discord API docs):

* gateway: HELLO -> IDENTIFY/RESUME -> READY + GUILD_CREATE, heartbeats/ACK, sequence numbers,
  zlib-stream transport compression (one compressobj per connection, Z_SYNC_FLUSH per payload),
  zstd-stream when a zstd module is importable, intent filtering (incl. MESSAGE_CONTENT scrubbing),
  privileged-intent enforcement (close 4014), member chunking (op 8), resume replay, RECONNECT.
* REST: bot auth (401), users/applications/commands, channel messages (JSON and multipart with
  ``payload_json`` + ``files[n]``), threads, interaction callbacks (``with_response``), webhook
  follow-ups and ``@original``, real error bodies (10003, 10008, 10015, 10062, 40060, 50006, 50013...),
  optional rate-limit headers and injectable 429s / errors.
* CDN: attachment bytes served from ``/attachments/{channel_id}/{attachment_id}/{filename}``.

Every REST request is recorded as a :class:`RecordedRequest`; ``wait_for``/``wait_until`` block on an
event that is set whenever the fake's state changes (no polling sleeps).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import io
import itertools
import json
import math
import mimetypes
import re
import secrets
import socket
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

T = TypeVar("T")

API_VERSION = 10
API_PREFIX = f"/api/v{API_VERSION}"
DISCORD_EPOCH_MS = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
MAX_CONTENT = 2000


class Permission(enum.IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1
EVERYONE_PERMISSIONS = (
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CONNECT
    | Permission.SPEAK
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.CREATE_PUBLIC_THREADS
    | Permission.CREATE_PRIVATE_THREADS
    | Permission.SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | Permission.MANAGE_MESSAGES | Permission.MANAGE_THREADS


class Intent(enum.IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = {
    "members": Intent.GUILD_MEMBERS,
    "presences": Intent.GUILD_PRESENCES,
    "message_content": Intent.MESSAGE_CONTENT,
}
# Application flags Discord reports for enabled privileged intents (the *_LIMITED variants).
_INTENT_APP_FLAGS = {"presences": 1 << 13, "members": 1 << 15, "message_content": 1 << 19}
THREAD_TYPES = (10, 11, 12)
MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7
MESSAGE_FLAG_HAS_THREAD = 1 << 5
_MENTION_RE = re.compile(r"<@!?(\d+)>")


class InteractionType(enum.IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType(enum.IntEnum):
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


# --------------------------------------------------------------------------------------------------
# records


@dataclass
class RecordedFile:
    field: str  # multipart field name, e.g. "files[0]"
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str  # relative to /api/v10, e.g. "/channels/1/messages"
    route: str  # template, e.g. "/channels/{channel_id}/messages"
    params: dict[str, str]
    query: dict[str, str]
    json: Any  # JSON body, or the parsed ``payload_json`` of a multipart body
    files: list[RecordedFile]
    headers: dict[str, str]
    timestamp: float  # time.monotonic() at arrival
    status: int = 0
    response: Any = None
    message_id: int | None = None  # message created/edited/deleted by this request
    effect: str = ""  # "create" | "edit" | "delete" | ""

    @property
    def multipart(self) -> bool:
        return bool(self.files) or "multipart" in self.headers.get("Content-Type", "")


@dataclass
class FakeInteraction:
    """An interaction the fake dispatched; tracks how the bot acknowledged it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    created: float
    channel_id: int
    guild_id: int | None
    response_type: int | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return self.response_type is not None


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _form_error(field_path: str, code: str, message: str) -> ApiError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        errors = {part: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


@dataclass
class _Injected:
    method: str
    route: str
    status: int
    body: Any
    headers: dict[str, str]
    remaining: int


@dataclass
class _Session:
    id: str
    intents: int
    seq: int = 0
    backlog: list[dict[str, Any]] = field(default_factory=list)
    conn: _Connection | None = None


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self.session: _Session | None = None
        self._lock = asyncio.Lock()
        self._compressor = _make_compressor(compress)

    async def send(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        async with self._lock:
            if self.ws.closed:
                return
            if self._compressor is None:
                await self.ws.send_str(raw)
            else:
                await self.ws.send_bytes(self._compressor(raw.encode()))


def _make_compressor(kind: str | None) -> Callable[[bytes], bytes] | None:
    """Transport compression: one streaming context per connection, flushed after every payload."""
    if kind == "zlib-stream":
        deflate = zlib.compressobj()
        return lambda data: deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
    if kind == "zstd-stream":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            from compression import zstd  # type: ignore[import-not-found]

            cctx = zstd.ZstdCompressor()
            return lambda data: cctx.compress(data, mode=zstd.ZstdCompressor.FLUSH_BLOCK)
        cobj = zstandard.ZstdCompressor().compressobj()
        return lambda data: cobj.compress(data) + cobj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)
    return None


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _sid(value: Any) -> int | None:
    return None if value is None else int(value)


# --------------------------------------------------------------------------------------------------
# the fake


class FakeDiscord:
    """In-process Discord: REST under ``/api/v10``, gateway at ``/``, CDN under ``/attachments``."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token.abc.def",
        bot_id: int | None = None,
        bot_name: str = "Atelier",
        application_id: int | None = None,
        bot_permissions: int = BOT_PERMISSIONS,
        privileged_intents: Sequence[str] = ("members", "presences", "message_content"),
        heartbeat_interval_ms: int = 41_250,
        interaction_ack_deadline: float = 3.0,
        ratelimit_headers: bool = True,
        strict_commands: bool = False,
        default_guild: bool = True,
    ) -> None:
        self._sf_last = 0
        self._sf_inc = itertools.count()
        self.token = token
        self.privileged_intents = frozenset(privileged_intents)
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_ack_deadline = interaction_ack_deadline
        self.ratelimit_headers = ratelimit_headers
        self.strict_commands = strict_commands
        self.bot_permissions = bot_permissions

        # state
        self.users: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, dict[str, Any]] = {}  # guild-only fields
        self.roles: dict[int, dict[int, dict[str, Any]]] = {}  # guild_id -> role_id -> role
        self.members: dict[int, dict[int, dict[str, Any]]] = {}  # guild_id -> user_id -> member (no user)
        self.channels: dict[int, dict[str, Any]] = {}  # guild channels, threads and DMs
        self.messages: dict[int, dict[str, Any]] = {}
        self.deleted_messages: dict[int, dict[str, Any]] = {}
        self.commands: dict[int | None, dict[tuple[str, int], dict[str, Any]]] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.modals: list[tuple[FakeInteraction, dict[str, Any]]] = []
        self._blobs: dict[int, tuple[bytes, str]] = {}
        self._dm_by_user: dict[int, int] = {}

        # records
        self.requests: list[RecordedRequest] = []
        self.gateway_received: list[dict[str, Any]] = []
        self.cdn_requests: list[str] = []
        self.gateway_queries: list[dict[str, str]] = []  # path + query string of each gateway connect
        self.identify: dict[str, Any] | None = None
        self.internal_errors: list[BaseException] = []
        self._injected: list[_Injected] = []
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Connection] = set()
        self._changed = asyncio.Event()

        self._runner: web.AppRunner | None = None
        self.port = 0

        self.bot_user = self.add_user(bot_name, user_id=bot_id, bot=True, discriminator="4821", public_flags=1 << 16)
        self.bot_id = int(self.bot_user["id"])
        self.application_id = application_id or self.bot_id
        self.owner = self.add_user("owner", global_name="Guild Owner")
        self.user = self.add_user("tester", global_name="Tester")
        self.guild_id = 0
        self.channel_id = 0
        if default_guild:
            self.guild_id = self.add_guild("Atelier Test Guild", owner=self.owner)
            self.add_member(self.guild_id, self.user)
            self.channel_id = self.text_channels(self.guild_id)[0]

    # ---------------------------------------------------------------------------------------- ids

    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (next(self._sf_inc) & 0xFFF)
        self._sf_last = value = max(value, self._sf_last + 1)
        return value

    # ----------------------------------------------------------------------------- lifecycle / urls

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self._gateway)
        app.router.add_get("/resume", self._gateway)
        for prefix in ("/attachments", "/ephemeral-attachments", "/media/attachments"):
            app.router.add_get(prefix + "/{channel_id}/{attachment_id}/{filename}", self._cdn)
        self._add_rest_routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        for conn in list(self._conns):
            await conn.ws.close(code=1001, message=b"Discord is going away")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (wrap in ``yarl.URL``)."""
        return f"ws://127.0.0.1:{self.port}/"

    @contextlib.contextmanager
    def patched_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway at this fake for the duration."""
        import discord.gateway
        import discord.http
        import yarl

        old = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old

    # ------------------------------------------------------------------------------- configuration

    def add_user(
        self,
        username: str,
        *,
        user_id: int | None = None,
        bot: bool = False,
        global_name: str | None = None,
        discriminator: str = "0",
        **extra: Any,
    ) -> dict[str, Any]:
        uid = user_id or self.snowflake()
        user = {
            "id": str(uid),
            "username": username,
            "discriminator": discriminator,
            "global_name": global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
            "collectibles": None,
            "clan": None,
        }
        if bot:
            user["bot"] = True
        user.update(extra)
        self.users[uid] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        owner: dict[str, Any] | None = None,
        channels: Sequence[str] = ("general",),
    ) -> int:
        gid = guild_id or self.snowflake()
        owner = owner or self.add_user(f"{name.lower().replace(' ', '_')}_owner")
        self.guilds[gid] = {
            "id": str(gid),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": owner["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw": False,
            "nsfw_level": 0,
            "region": "deprecated",
            "hub_type": None,
            "incidents_data": None,
            "latest_onboarding_question_id": None,
            "home_header": None,
            "inventory_settings": None,
            "profile": None,
        }
        self.roles[gid] = {}
        self.members[gid] = {}
        everyone = self.add_role(gid, "@everyone", EVERYONE_PERMISSIONS, role_id=gid)
        everyone["position"] = 0
        bot_role = self.add_role(
            gid,
            self.bot_user["username"],
            self.bot_permissions,
            managed=True,
            tags={"bot_id": self.bot_user["id"]},
        )
        self.add_member(gid, owner)
        self.add_member(gid, self.bot_user, roles=[int(bot_role["id"])])
        for channel_name in channels:
            channel = self.add_channel(gid, channel_name)
            self.guilds[gid]["system_channel_id"] = self.guilds[gid]["system_channel_id"] or channel["id"]
        return gid

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        role_id: int | None = None,
        color: int = 0,
        managed: bool = False,
        tags: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        rid = role_id or self.snowflake()
        role = {
            "id": str(rid),
            "name": name,
            "description": None,
            "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": len(self.roles[guild_id]),
            "permissions": str(int(permissions)),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if tags is not None:
            role["tags"] = tags
        self.roles[guild_id][rid] = role
        return role

    def add_member(
        self, guild_id: int, user: dict[str, Any], *, roles: Sequence[int] = (), nick: str | None = None
    ) -> dict[str, Any]:
        self.users.setdefault(int(user["id"]), user)
        member = {
            "nick": nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in roles],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
            "unusual_dm_activity_until": None,
        }
        self.members[guild_id][int(user["id"])] = member
        return member

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,
        parent_id: int | None = None,
        permission_overwrites: Sequence[dict[str, Any]] = (),
        channel_id: int | None = None,
    ) -> dict[str, Any]:
        cid = channel_id or self.snowflake()
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == str(guild_id))
        channel = {
            "id": str(cid),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": list(permission_overwrites),
            "parent_id": None if parent_id is None else str(parent_id),
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "icon_emoji": None,
            "theme_color": None,
        }
        if type in (2, 13):
            channel.update(bitrate=64000, user_limit=0, rtc_region=None)
        self.channels[cid] = channel
        return channel

    def text_channels(self, guild_id: int) -> list[int]:
        return [int(c["id"]) for c in self.channels.values() if c.get("guild_id") == str(guild_id) and c["type"] == 0]

    def dm_channel(self, user: dict[str, Any]) -> dict[str, Any]:
        uid = int(user["id"])
        if uid not in self._dm_by_user:
            cid = self.snowflake()
            self.channels[cid] = {
                "id": str(cid),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.users.get(uid, user)],
            }
            self._dm_by_user[uid] = cid
        return self.channels[self._dm_by_user[uid]]

    def add_attachment(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        channel_id: int | None = None,
        description: str | None = None,
        ephemeral: bool = False,
    ) -> dict[str, Any]:
        """Store bytes on the fake CDN and return a Discord attachment object pointing at them."""
        content_type = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        attachment_id = self.snowflake()
        self._blobs[attachment_id] = (data, content_type)
        cid = channel_id or self.channel_id or attachment_id
        prefix = "ephemeral-attachments" if ephemeral else "attachments"
        now = int(time.time())
        signature = f"?ex={now + 86400:x}&is={now:x}&hm={hashlib.sha256(data).hexdigest()}&"
        path = f"/{cid}/{attachment_id}/{filename}"
        attachment: dict[str, Any] = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": f"{self.base_url}/{prefix}{path}{signature}",
            "proxy_url": f"{self.base_url}/media/attachments{path}{signature}",
            "content_type": content_type,
            "content_scan_version": 0,
        }
        if description is not None:
            attachment["description"] = description
        if ephemeral:
            attachment["ephemeral"] = True
        attachment.update(_image_size(data, content_type))
        return attachment

    def attachment_bytes(self, attachment: dict[str, Any] | int) -> bytes:
        attachment_id = int(attachment["id"]) if isinstance(attachment, dict) else attachment
        return self._blobs[attachment_id][0]

    def inject_response(
        self,
        method: str,
        route: str,
        *,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` matching requests (route template or concrete path) with this."""
        self._injected.append(_Injected(method.upper(), route, status, body, dict(headers or {}), count))

    def inject_rate_limit(
        self, method: str, route: str, *, retry_after: float = 0.05, count: int = 1, is_global: bool = False
    ) -> None:
        """Make the next ``count`` matching requests 429 exactly like Discord (body + headers + Via)."""
        headers = {
            "Retry-After": str(math.ceil(retry_after)),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": _bucket_hash(route),
            "X-RateLimit-Scope": "global" if is_global else "user",
            "Via": "1.1 google",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global}
        self.inject_response(method, route, status=429, body=body, headers=headers, count=count)

    # ------------------------------------------------------------------------------------- waiting

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, check: Callable[[], T], timeout: float = 5.0, *, what: str = "condition") -> T:
        """Return ``check()`` as soon as it is truthy; re-evaluated on every state change."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := check()):
                    await self._changed.wait()
                return result
        except TimeoutError:
            recent = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-15:])
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; recent requests:\n  {recent}") from None

    async def wait_for(self, predicate: Callable[[RecordedRequest], bool], timeout: float = 5.0) -> RecordedRequest:
        """First recorded request (past or future) matching ``predicate``."""

        def check() -> RecordedRequest | None:
            return next((r for r in self.requests if predicate(r)), None)

        return await self.wait_until(check, timeout, what="a matching request")

    async def wait_for_request(self, method: str, route: str, timeout: float = 5.0, **params: Any) -> RecordedRequest:
        """First request with this method and route template (or path) whose URL params match."""
        return await self.wait_for(
            lambda r: (
                r.method == method.upper()
                and route in (r.route, r.path)
                and all(r.params.get(k) == str(v) for k, v in params.items())
            ),
            timeout,
        )

    async def wait_for_callback(self, interaction: FakeInteraction | int, timeout: float = 5.0) -> RecordedRequest:
        iid = interaction.id if isinstance(interaction, FakeInteraction) else interaction
        return await self.wait_until(lambda: self.callback_for(iid), timeout, what=f"callback of {iid}")

    async def wait_for_followup(
        self, interaction: FakeInteraction | str, count: int = 1, timeout: float = 5.0
    ) -> RecordedRequest:
        """The ``count``-th successful follow-up POST for an interaction."""

        def check() -> RecordedRequest | None:
            found = self.followups(interaction)
            return found[count - 1] if len(found) >= count else None

        return await self.wait_until(check, timeout, what=f"follow-up #{count}")

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """First (oldest) current message in the channel that matches ``predicate``."""
        return await self.wait_until(
            lambda: next((m for m in self.messages_in(channel_id) if predicate(m)), None),
            timeout,
            what=f"a message in {channel_id}",
        )

    # ----------------------------------------------------------------------------------- accessors

    @property
    def callbacks(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == "/interactions/{interaction_id}/{interaction_token}/callback"]

    def callback_for(self, interaction: FakeInteraction | int) -> RecordedRequest | None:
        iid = str(interaction.id if isinstance(interaction, FakeInteraction) else interaction)
        return next((r for r in self.callbacks if r.params["interaction_id"] == iid and r.status < 300), None)

    def followups(self, interaction: FakeInteraction | str) -> list[RecordedRequest]:
        token = interaction.token if isinstance(interaction, FakeInteraction) else interaction
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and r.route == "/webhooks/{webhook_id}/{webhook_token}"
            and r.params["webhook_token"] == token
            and r.status < 300
        ]

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        return sorted(
            (m for m in self.messages.values() if m["channel_id"] == str(channel_id)),
            key=lambda m: int(m["id"]),
        )

    def message(self, message_id: int) -> dict[str, Any]:
        return self.messages[int(message_id)]

    def edits_of(self, message_id: int) -> list[RecordedRequest]:
        """Successful requests that edited the message (PATCH, UPDATE_MESSAGE callbacks, deferred fills)."""
        return [r for r in self.requests if r.message_id == int(message_id) and r.effect == "edit" and r.status < 300]

    def original_response(self, interaction: FakeInteraction | str) -> dict[str, Any] | None:
        inter = self._interaction_by_token(
            interaction.token if isinstance(interaction, FakeInteraction) else interaction
        )
        if inter is None or inter.original_message_id is None:
            return None
        return self.messages.get(inter.original_message_id)

    def commands_for(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return list(self.commands.get(guild_id, {}).values())

    # ================================================================================== gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        query = request.query
        self.gateway_queries.append({"path": request.path, **query})
        compress = query.get("compress")
        if query.get("v", str(API_VERSION)) not in ("9", "10"):
            await ws.close(code=4012, message=b"Invalid API version")
            return ws
        if query.get("encoding", "json") != "json":
            await ws.close(code=4002, message=b"Error while decoding payload.")  # the fake speaks JSON only
            return ws
        conn = _Connection(ws, compress if compress in ("zlib-stream", "zstd-stream") else None)
        self._conns.add(conn)
        client_close: int | None = None
        try:
            trace = json.dumps(["gateway-prd-fake-1", {"micros": 0}])
            await conn.send(self._op(10, {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": [trace]}))
            while not ws.closed:
                msg = await ws.receive()
                if msg.type is WSMsgType.CLOSE:  # the client closed; aiohttp answers the handshake
                    client_close = msg.data
                    break
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break  # CLOSING/CLOSED/ERROR: we closed it or the transport died
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                self.gateway_received.append(payload)
                self._notify()
                try:
                    await self._on_gateway_payload(conn, payload)
                except Exception as exc:
                    self.internal_errors.append(exc)
                    raise
        finally:
            self._conns.discard(conn)
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # A client close with 1000/1001 ends the session (not resumable), like Discord.
                # (ws.close_code is useless here: aiohttp reports 1000 for server-initiated closes too.)
                if client_close in (1000, 1001):
                    self._sessions.pop(session.id, None)
            self._notify()
        return ws

    @staticmethod
    def _op(op: int, d: Any) -> dict[str, Any]:
        return {"op": op, "d": d, "s": None, "t": None}

    async def _on_gateway_payload(self, conn: _Connection, payload: dict[str, Any]) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:
            await conn.send(self._op(11, None))
        elif op == 2:
            await self._identify(conn, d)
        elif op == 6:
            await self._resume(conn, d)
        elif conn.session is None:
            await conn.ws.close(code=4003, message=b"Not authenticated.")
        elif op == 8:
            await self._request_members(conn.session, d)
        elif op in (3, 4, 31, 37):  # presence, voice state, soundboard, channel info: accepted, ignored
            return
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    def _token_ok(self, token: str | None) -> bool:
        return token is not None and token.removeprefix("Bot ") == self.token

    async def _identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        if not self._token_ok(d.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents >= 1 << 26:
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        allowed = {PRIVILEGED_INTENTS[name] for name in self.privileged_intents}
        if any(intents & bit and bit not in allowed for bit in PRIVILEGED_INTENTS.values()):
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = d.get("shard")
        if shard is not None and not 0 <= shard[0] < shard[1]:
            await conn.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.identify = d
        session = _Session(id=secrets.token_hex(16), intents=intents, conn=conn)
        self._sessions[session.id] = session
        conn.session = session
        ready = {
            "v": API_VERSION,
            "user": self._bot_user_full(),
            "user_settings": {},
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": f"ws://127.0.0.1:{self.port}/resume",
            "guilds": [{"id": str(gid), "unavailable": True} for gid in self.guilds],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "auth": {},
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "_trace": [json.dumps(["gateway-prd-fake-1", {"micros": 0}])],
        }
        if shard is not None:
            ready["shard"] = shard
        await self._send_dispatch(session, "READY", ready)
        for gid in self.guilds:
            await self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(gid, intents))

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = self._sessions.get(d.get("session_id", ""))
        if session is None or not self._token_ok(d.get("token")) or (d.get("seq") or 0) > session.seq:
            await conn.send(self._op(9, False))
            return
        if session.conn is not None and session.conn is not conn:
            await session.conn.ws.close(code=4000, message=b"Session resumed elsewhere")
        session.conn, conn.session = conn, session
        for event in session.backlog:
            if event["s"] > (d.get("seq") or 0):
                await conn.send(event)
        await self._send_dispatch(session, "RESUMED", {"_trace": ["gateway-prd-fake-1"]})

    async def _request_members(self, session: _Session, d: dict[str, Any]) -> None:
        gid = int(d["guild_id"])
        query, limit = d.get("query"), d.get("limit") or 0
        user_ids = {int(u) for u in d.get("user_ids") or []}
        if query == "" and limit == 0 and not session.intents & Intent.GUILD_MEMBERS:
            if session.conn is not None:
                await session.conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        found = [
            self._member_payload(gid, uid)
            for uid in self.members.get(gid, {})
            if (not user_ids or uid in user_ids)
            and (not query or self.users[uid]["username"].lower().startswith(query.lower()))
        ]
        if limit:
            found = found[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(gid),
            "members": found,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(u) for u in user_ids if u not in self.members.get(gid, {})],
        }
        if d.get("presences"):
            chunk["presences"] = []
        if d.get("nonce"):
            chunk["nonce"] = d["nonce"]
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_dispatch(self, session: _Session, event: str, data: dict[str, Any]) -> int:
        session.seq += 1
        payload = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.backlog.append(payload)
        if session.conn is not None:
            await session.conn.send(payload)
        return session.seq

    async def dispatch(self, event: str, data: dict[str, Any], *, require_session: bool = True) -> None:
        """Send a DISPATCH to every identified session whose intents cover the event.

        Sessions that are disconnected but resumable buffer it (replayed on RESUME).
        """
        if require_session and not self._sessions:
            raise RuntimeError(f"cannot dispatch {event}: no gateway session (is the bot connected?)")
        for session in list(self._sessions.values()):
            shaped = _shape_for_intents(event, data, session.intents, self.bot_id)
            if shaped is not None:
                await self._send_dispatch(session, event, shaped)

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py then RESUMEs on ``resume_gateway_url``."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send(self._op(7, None))

    async def drop_connection(self, code: int = 4000) -> None:
        """Close gateway sockets with ``code`` (4000 keeps the session resumable)."""
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.ws.close(code=code, message=b"fake drop")

    async def invalidate_session(self, resumable: bool = False) -> None:
        for session in list(self._sessions.values()):
            if session.conn is not None:
                await session.conn.send(self._op(9, resumable))
            if not resumable:
                self._sessions.pop(session.id, None)

    @property
    def connected(self) -> bool:
        return any(s.conn is not None for s in self._sessions.values())

    # ------------------------------------------------------------------------------- payloads

    def _application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        for name in self.privileged_intents:
            flags |= _INTENT_APP_FLAGS[name]
        return flags

    def _bot_user_full(self) -> dict[str, Any]:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "is_monetized": False,
            "is_verified": False,
            "is_discoverable": False,
            "hook": True,
            "bot": self.bot_user,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner,
            "team": None,
            "flags": self._application_flags(),
            "install_params": {
                "scopes": ["bot", "applications.commands"],
                "permissions": str(self.bot_permissions),
            },
            "integration_types_config": {"0": {}, "1": {}},
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "redirect_uris": [],
            "rpc_origins": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
        }

    def _member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        member = dict(self.members[guild_id][user_id])
        if with_user:
            member["user"] = self.users[user_id]
        return member

    def _guild_payload(self, guild_id: int) -> dict[str, Any]:
        roles = sorted(self.roles[guild_id].values(), key=lambda r: r["position"])
        return {**self.guilds[guild_id], "roles": roles}

    def _guild_create_payload(self, guild_id: int, intents: int) -> dict[str, Any]:
        channels = [
            {k: v for k, v in c.items() if k != "guild_id"}
            for c in self.channels.values()
            if c.get("guild_id") == str(guild_id) and c["type"] not in THREAD_TYPES
        ]
        threads = [
            c
            for c in self.channels.values()
            if c.get("guild_id") == str(guild_id) and c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]
        ]
        # Without GUILD_PRESENCES Discord only sends the bot itself (the rest must be chunked).
        member_ids = list(self.members[guild_id])
        if not intents & Intent.GUILD_PRESENCES:
            member_ids = [self.bot_id]
        return {
            **self._guild_payload(guild_id),
            "joined_at": self.members[guild_id][self.bot_id]["joined_at"],
            "large": False,
            "unavailable": False,
            "member_count": len(self.members[guild_id]),
            "members": [self._member_payload(guild_id, uid) for uid in member_ids],
            "channels": channels,
            "threads": threads,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "embedded_activities": [],
            "activity_instances": [],
            "lazy": True,
            "application_command_counts": {},
            "version": int(time.time() * 1000),
        }

    # ---------------------------------------------------------------------------- permissions

    def permissions_for(self, user_id: int, channel_id: int) -> int:
        """Effective permissions (roles + overwrites) the way Discord computes them."""
        channel = self.channels[channel_id]
        if "guild_id" not in channel:  # DMs
            return int(EVERYONE_PERMISSIONS & ~Permission.CREATE_INSTANT_INVITE)
        gid = int(channel["guild_id"])
        guild, roles = self.guilds[gid], self.roles[gid]
        member = self.members[gid].get(user_id)
        if member is None:
            return 0
        if guild["owner_id"] == str(user_id):
            return ALL_PERMISSIONS
        perms = int(roles[gid]["permissions"])
        for rid in member["roles"]:
            perms |= int(roles[int(rid)]["permissions"])
        if perms & Permission.ADMINISTRATOR:
            return ALL_PERMISSIONS
        if channel["type"] in THREAD_TYPES:
            channel = self.channels[int(channel["parent_id"])]
        overwrites = {ow["id"]: ow for ow in channel.get("permission_overwrites", [])}
        if (ow := overwrites.get(str(gid))) is not None:
            perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
        allow = deny = 0
        for rid in member["roles"]:
            if (ow := overwrites.get(rid)) is not None:
                allow, deny = allow | int(ow["allow"]), deny | int(ow["deny"])
        perms = (perms & ~deny) | allow
        if (ow := overwrites.get(str(user_id))) is not None:
            perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
        return perms

    def _require(self, channel_id: int, *needed: int) -> None:
        perms = self.permissions_for(self.bot_id, channel_id)
        if not perms & Permission.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if any(not perms & p for p in needed):
            raise ApiError(403, 50013, "Missing Permissions")

    # ===================================================================================== CDN

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_requests.append(request.path_qs)
        self._notify()
        blob = self._blobs.get(int(request.match_info["attachment_id"]))
        if blob is None:
            return web.Response(status=404, text="This content is no longer available.")
        data, content_type = blob
        return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "public, max-age=31536000"})

    # ==================================================================================== REST

    def _add_rest_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[..., Any], bool]] = [
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway, True),
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/users/{user_id}", self._get_user, True),
            ("POST", "/users/@me/channels", self._create_dm, True),
            ("GET", "/applications/@me", self._get_application, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/applications/{application_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/commands", self._put_commands, True),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands, True),
            ("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self._callback, False),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self._webhook_execute, False),
            (
                "GET",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._webhook_message,
                False,
            ),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._webhook_message,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self._webhook_message,
                False,
            ),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("GET", "/channels/{channel_id}/messages", self._get_history, True),
            ("POST", "/channels/{channel_id}/messages", self._post_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._patch_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True),
            ("PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me", self._react, True),
            (
                "DELETE",
                "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me",
                self._react,
                True,
            ),
            ("POST", "/channels/{channel_id}/typing", self._typing, True),
            ("POST", "/channels/{channel_id}/threads", self._create_thread, True),
            ("POST", "/channels/{channel_id}/messages/{message_id}/threads", self._create_thread, True),
            ("PUT", "/channels/{channel_id}/thread-members/{user_id}", self._thread_member, True),
            ("DELETE", "/channels/{channel_id}/thread-members/{user_id}", self._thread_member, True),
            ("GET", "/guilds/{guild_id}", self._get_guild, True),
            ("GET", "/guilds/{guild_id}/channels", self._get_guild_channels, True),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._get_member, True),
        ]
        for method, template, handler, auth in routes:
            app.router.add_route(method, API_PREFIX + template, self._endpoint(template, handler, auth))
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._endpoint("", self._not_found, False))

    def _endpoint(self, template: str, handler: Callable[..., Any], auth: bool) -> Callable[..., Any]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            rec = await self._record_start(request, template)
            status, body, headers = 200, None, {}
            try:
                if rec.json is _INVALID_JSON:
                    raise ApiError(400, 50109, "The request body contains invalid JSON.")
                if (inj := self._take_injection(rec)) is not None:
                    status, body, headers = inj.status, inj.body, dict(inj.headers)
                elif auth and not self._token_ok(request.headers.get("Authorization")):
                    raise ApiError(401, 0, "401: Unauthorized")
                else:
                    status, body = await handler(rec)
            except ApiError as err:
                status, body = err.status, err.body()
            except Exception as exc:  # a bug in the fake or a malformed payload: fail loudly, no 5xx retries
                self.internal_errors.append(exc)
                status, body = 400, {"message": f"FakeDiscord internal error: {exc!r}", "code": 0}
            if self.ratelimit_headers and status != 429:
                headers.update(_ratelimit_headers(template or rec.path))
            rec.status, rec.response = status, body
            self.requests.append(rec)
            self._notify()
            if status == 204 or body is None:
                return web.Response(status=status, headers=headers)
            # Exactly "application/json": discord.py's json_or_text() compares the header verbatim.
            headers["Content-Type"] = "application/json"
            return web.Response(body=json.dumps(body).encode(), status=status, headers=headers)

        return wrapped

    async def _record_start(self, request: web.Request, template: str) -> RecordedRequest:
        body: Any = None
        files: list[RecordedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                data = await part.read()  # type: ignore[union-attr]
                name = part.name or ""
                if name == "payload_json":
                    body = _parse_json(data)
                elif part.filename is not None:
                    ctype = part.headers.get("Content-Type", "application/octet-stream")
                    files.append(RecordedFile(name, part.filename, ctype, bytes(data)))
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                body = _parse_json(raw)
        return RecordedRequest(
            method=request.method,
            path=request.path.removeprefix(API_PREFIX),
            route=template or request.path.removeprefix(API_PREFIX),
            params=dict(request.match_info),
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            timestamp=time.monotonic(),
        )

    def _take_injection(self, rec: RecordedRequest) -> _Injected | None:
        for inj in self._injected:
            if inj.remaining > 0 and inj.method == rec.method and inj.route in (rec.route, rec.path):
                inj.remaining -= 1
                return inj
        return None

    async def _not_found(self, rec: RecordedRequest) -> tuple[int, Any]:
        raise ApiError(404, 0, "404: Not Found")

    # ------------------------------------------------------------------------- lookups

    def _channel(self, channel_id: Any) -> dict[str, Any]:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _message_in(self, channel_id: Any, message_id: Any) -> dict[str, Any]:
        self._channel(channel_id)
        msg = self.messages.get(int(message_id))
        if msg is None or msg["channel_id"] != str(channel_id):
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def _interaction_by_token(self, token: str) -> FakeInteraction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    # ------------------------------------------------------------------------- simple routes

    async def _get_gateway(self, rec: RecordedRequest) -> tuple[int, Any]:
        body: dict[str, Any] = {"url": self.gateway_url.rstrip("/")}
        if rec.route.endswith("/bot"):
            limits = {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1}
            body.update(shards=1, session_start_limit=limits)
        return 200, body

    async def _get_me(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._bot_user_full()

    async def _get_user(self, rec: RecordedRequest) -> tuple[int, Any]:
        user = self.users.get(int(rec.params["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return 200, user

    async def _create_dm(self, rec: RecordedRequest) -> tuple[int, Any]:
        user = self.users.get(int(rec.json["recipient_id"]))
        if user is None:
            raise ApiError(400, 50007, "Cannot send messages to this user")
        return 200, self.dm_channel(user)

    async def _get_application(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._application()

    async def _get_guild(self, rec: RecordedRequest) -> tuple[int, Any]:
        gid = int(rec.params["guild_id"])
        if gid not in self.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        body = self._guild_payload(gid)
        if rec.query.get("with_counts") in ("true", "1"):
            body.update(approximate_member_count=len(self.members[gid]), approximate_presence_count=0)
        return 200, body

    async def _get_guild_channels(self, rec: RecordedRequest) -> tuple[int, Any]:
        gid = rec.params["guild_id"]
        return 200, [c for c in self.channels.values() if c.get("guild_id") == gid and c["type"] not in THREAD_TYPES]

    async def _get_member(self, rec: RecordedRequest) -> tuple[int, Any]:
        gid, uid = int(rec.params["guild_id"]), int(rec.params["user_id"])
        if gid not in self.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        if uid not in self.members[gid]:
            raise ApiError(404, 10007, "Unknown Member")
        return 200, self._member_payload(gid, uid)

    async def _get_channel(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._channel(rec.params["channel_id"])

    async def _typing(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._require(int(self._channel(rec.params["channel_id"])["id"]), Permission.SEND_MESSAGES)
        return 204, None

    # ------------------------------------------------------------------------- commands

    async def _get_commands(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._check_app(rec.params["application_id"])
        return 200, self.commands_for(_sid(rec.params.get("guild_id")))

    async def _put_commands(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._check_app(rec.params["application_id"])
        gid = _sid(rec.params.get("guild_id"))
        if gid is not None and gid not in self.guilds:
            raise ApiError(403, 50001, "Missing Access")
        old = self.commands.get(gid, {})
        new: dict[tuple[str, int], dict[str, Any]] = {}
        for index, cmd in enumerate(rec.json or []):
            ctype = cmd.get("type", 1)
            key = (cmd["name"], ctype)
            if key in new:
                raise _form_error(f"{index}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate name")
            if ctype == 1 and not 1 <= len(cmd.get("description", "")) <= 100:
                raise _form_error(f"{index}.description", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 characters.")
            previous = old.get(key)
            echoed = {
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": ctype,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                "dm_permission": True,
                **cmd,
            }
            if gid is not None:
                echoed["guild_id"] = str(gid)
            new[key] = echoed
        self.commands[gid] = new
        return 200, list(new.values())

    def _check_app(self, application_id: str) -> None:
        if application_id != str(self.application_id):
            raise ApiError(403, 50001, "Missing Access")

    # ------------------------------------------------------------------------- messages

    def _build_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: Sequence[RecordedFile],
        *,
        author: dict[str, Any] | None = None,
        ephemeral: bool = False,
        attachments: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A full Discord message object for content sent by the bot (or ``author``)."""
        mid = self.snowflake()
        msg: dict[str, Any] = {
            "id": str(mid),
            "type": 0,
            "channel_id": str(channel_id),
            "author": author or self.bot_user,
            "content": "",
            "embeds": [],
            "attachments": list(attachments),
            "components": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts", False)),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": int(payload.get("flags") or 0),
        }
        if ephemeral:
            msg["flags"] |= MESSAGE_FLAG_EPHEMERAL
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        self._apply_edit(msg, payload, files, creating=True)
        if (ref := payload.get("message_reference")) and ref.get("type", 0) == 0:
            self._attach_reply(msg, ref, payload.get("allowed_mentions"))
        if (
            not any(msg[k] for k in ("content", "embeds", "attachments", "components"))
            and not payload.get("sticker_ids")
            and not payload.get("poll")
        ):
            if not msg["flags"] & MESSAGE_FLAG_LOADING:
                raise ApiError(400, 50006, "Cannot send an empty message")
        return msg

    def _apply_edit(
        self,
        msg: dict[str, Any],
        payload: dict[str, Any],
        files: Sequence[RecordedFile],
        *,
        creating: bool = False,
    ) -> None:
        """Apply create/edit semantics: only keys present in ``payload`` change."""
        if "content" in payload:
            content = payload["content"] or ""
            if len(content) > MAX_CONTENT:
                raise _form_error("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
            msg["content"] = content
            msg["mentions"] = self._parse_mentions(content, payload.get("allowed_mentions"))
        if "embeds" in payload:
            embeds = payload["embeds"] or []
            if len(embeds) > 10:
                raise _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            msg["embeds"] = [{"type": "rich", "content_scan_version": 0, **e} for e in embeds]
        if "components" in payload:
            msg["components"] = _number_components(payload["components"] or [])
        if "flags" in payload and not creating:
            keep = msg["flags"] & (MESSAGE_FLAG_EPHEMERAL | MESSAGE_FLAG_HAS_THREAD)
            msg["flags"] = keep | (int(payload["flags"] or 0) & ~MESSAGE_FLAG_EPHEMERAL)
        self._apply_attachments(msg, payload, files)

    def _apply_attachments(self, msg: dict[str, Any], payload: dict[str, Any], files: Sequence[RecordedFile]) -> None:
        if sum(len(f.data) for f in files) > ATTACHMENT_SIZE_LIMIT:
            raise ApiError(413, 40005, "Request entity too large")
        by_index = {}
        for f in files:
            match = re.fullmatch(r"files\[(\d+)\]", f.field)
            by_index[int(match.group(1)) if match else len(by_index)] = f
        ephemeral = bool(msg["flags"] & MESSAGE_FLAG_EPHEMERAL)
        existing = {a["id"]: a for a in msg["attachments"]}

        def upload(f: RecordedFile, meta: dict[str, Any]) -> dict[str, Any]:
            ctype = mimetypes.guess_type(meta.get("filename") or f.filename)[0] or f.content_type
            return self.add_attachment(
                f.data,
                meta.get("filename") or f.filename,
                ctype,
                channel_id=int(msg["channel_id"]),
                description=meta.get("description"),
                ephemeral=ephemeral,
            )

        if "attachments" in payload:
            result = []
            for meta in payload["attachments"] or []:
                key = str(meta.get("id"))
                if key in existing:
                    result.append(existing[key])
                elif key.isdigit() and int(key) in by_index:
                    result.append(upload(by_index.pop(int(key)), meta))
                else:
                    raise _form_error("attachments", "ATTACHMENT_NOT_FOUND", f"Unknown attachment {key}")
            msg["attachments"] = result
        # files not described in ``attachments`` are appended (Discord's behaviour)
        msg["attachments"] = msg["attachments"] + [upload(f, {}) for _, f in sorted(by_index.items())]

    def _parse_mentions(self, content: str, allowed: dict[str, Any] | None) -> list[dict[str, Any]]:
        mentioned = []
        for raw in dict.fromkeys(_MENTION_RE.findall(content)):
            uid = int(raw)
            if uid not in self.users:
                continue
            if (
                allowed is not None
                and "users" not in allowed.get("parse", [])
                and raw not in map(str, allowed.get("users", []))
            ):
                continue
            mentioned.append(self.users[uid])
        return mentioned

    def _attach_reply(self, msg: dict[str, Any], ref: dict[str, Any], allowed: dict[str, Any] | None) -> None:
        target_channel = int(ref.get("channel_id") or msg["channel_id"])
        target = self.messages.get(int(ref["message_id"]))
        if target is None or target["channel_id"] != str(target_channel):
            if ref.get("fail_if_not_exists", True):
                raise _form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            return
        channel = self.channels[target_channel]
        msg["type"] = 19
        msg["message_reference"] = {
            "type": 0,
            "channel_id": str(target_channel),
            "message_id": target["id"],
            **({"guild_id": channel["guild_id"]} if "guild_id" in channel else {}),
        }
        msg["referenced_message"] = {k: v for k, v in target.items() if k != "referenced_message"}
        if allowed is None or allowed.get("replied_user"):
            if all(u["id"] != target["author"]["id"] for u in msg["mentions"]):
                msg["mentions"].append(target["author"])

    def _store(self, msg: dict[str, Any]) -> dict[str, Any]:
        mid, cid = int(msg["id"]), int(msg["channel_id"])
        self.messages[mid] = msg
        channel = self.channels.get(cid)
        if channel is not None:
            channel["last_message_id"] = msg["id"]
            if channel["type"] in THREAD_TYPES:
                channel["message_count"] += 1
                channel["total_message_sent"] += 1
        return msg

    def _gateway_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE shape: adds guild_id + member for guild channels."""
        data = dict(msg)
        channel = self.channels.get(int(msg["channel_id"]), {})
        if "guild_id" in channel:
            gid = int(channel["guild_id"])
            data["guild_id"] = channel["guild_id"]
            if int(msg["author"]["id"]) in self.members[gid] and "webhook_id" not in msg:
                data["member"] = self._member_payload(gid, int(msg["author"]["id"]), with_user=False)
            data["mentions"] = [
                {**u, "member": self._member_payload(gid, int(u["id"]), with_user=False)}
                if int(u["id"]) in self.members[gid]
                else u
                for u in msg["mentions"]
            ]
        return data

    async def _announce(self, event: str, msg: dict[str, Any]) -> None:
        if msg["flags"] & MESSAGE_FLAG_EPHEMERAL or not self._sessions:
            return
        if event == "MESSAGE_DELETE":
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in (channel := self.channels.get(int(msg["channel_id"]), {})):
                data["guild_id"] = channel["guild_id"]
            await self.dispatch(event, data)
        else:
            await self.dispatch(event, self._gateway_message(msg))

    def _send_permissions(self, channel: dict[str, Any], files: Sequence[RecordedFile]) -> None:
        if "guild_id" not in channel:
            return
        send = Permission.SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else Permission.SEND_MESSAGES
        self._require(int(channel["id"]), send, *([Permission.ATTACH_FILES] if files else []))
        if channel["type"] in THREAD_TYPES and channel["thread_metadata"]["locked"]:
            raise ApiError(403, 50083, "Thread is archived")

    async def _post_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        channel = self._channel(rec.params["channel_id"])
        self._send_permissions(channel, rec.files)
        msg = self._store(self._build_message(int(channel["id"]), rec.json or {}, rec.files))
        rec.message_id, rec.effect = int(msg["id"]), "create"
        await self._announce("MESSAGE_CREATE", msg)
        return 200, msg

    async def _get_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._message_in(rec.params["channel_id"], rec.params["message_id"])

    async def _get_history(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._channel(rec.params["channel_id"])
        msgs = self.messages_in(int(rec.params["channel_id"]))
        if "before" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) < int(rec.query["before"])]
        if "after" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) > int(rec.query["after"])]
        limit = int(rec.query.get("limit", 50))
        newest_first = list(reversed(msgs))
        if "after" in rec.query:
            return 200, newest_first[-limit:]
        return 200, newest_first[:limit]

    async def _patch_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        msg = self._message_in(rec.params["channel_id"], rec.params["message_id"])
        payload = rec.json or {}
        if msg["author"]["id"] != self.bot_user["id"] and set(payload) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._edit(msg, payload, rec)
        await self._announce("MESSAGE_UPDATE", msg)
        return 200, msg

    def _edit(self, msg: dict[str, Any], payload: dict[str, Any], rec: RecordedRequest) -> None:
        self._apply_edit(msg, payload, rec.files)
        msg["flags"] &= ~MESSAGE_FLAG_LOADING
        msg["edited_timestamp"] = _now_iso()
        rec.message_id, rec.effect = int(msg["id"]), "edit"

    async def _delete_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        msg = self._message_in(rec.params["channel_id"], rec.params["message_id"])
        if msg["author"]["id"] != self.bot_user["id"]:
            self._require(int(msg["channel_id"]), Permission.MANAGE_MESSAGES)
        self._delete(msg, rec)
        await self._announce("MESSAGE_DELETE", msg)
        return 204, None

    def _delete(self, msg: dict[str, Any], rec: RecordedRequest) -> None:
        self.deleted_messages[int(msg["id"])] = self.messages.pop(int(msg["id"]))
        rec.message_id, rec.effect = int(msg["id"]), "delete"

    async def _react(self, rec: RecordedRequest) -> tuple[int, Any]:
        msg = self._message_in(rec.params["channel_id"], rec.params["message_id"])
        name, _, eid = rec.params["emoji"].partition(":")
        emoji = {"id": eid or None, "name": name}
        reactions = msg.setdefault("reactions", [])
        current = next((r for r in reactions if r["emoji"] == emoji), None)
        if rec.method == "PUT":
            self._require(int(msg["channel_id"]), Permission.ADD_REACTIONS, Permission.READ_MESSAGE_HISTORY)
            if current is None:
                reactions.append(
                    {
                        "emoji": emoji,
                        "count": 1,
                        "count_details": {"burst": 0, "normal": 1},
                        "burst_colors": [],
                        "me": True,
                        "me_burst": False,
                        "burst_me": False,
                        "burst_count": 0,
                    }
                )
            elif not current["me"]:
                current.update(me=True, count=current["count"] + 1)
        elif current is not None and current["me"]:
            current.update(me=False, count=current["count"] - 1)
            msg["reactions"] = [r for r in reactions if r["count"] > 0]
        return 204, None

    # ------------------------------------------------------------------------- threads

    async def _create_thread(self, rec: RecordedRequest) -> tuple[int, Any]:
        parent = self._channel(rec.params["channel_id"])
        if "guild_id" not in parent or parent["type"] in THREAD_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        body = rec.json or {}
        from_message = "message_id" in rec.params
        ttype = 11 if from_message or parent["type"] in (15, 16) else int(body.get("type") or 12)
        if ttype == 10 or parent["type"] == 5:
            ttype = 10
        needed = Permission.CREATE_PRIVATE_THREADS if ttype == 12 else Permission.CREATE_PUBLIC_THREADS
        self._require(int(parent["id"]), needed)
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise _form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        source = self._message_in(parent["id"], rec.params["message_id"]) if from_message else None
        if source is not None and source["flags"] & MESSAGE_FLAG_HAS_THREAD:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        tid = int(source["id"]) if source is not None else self.snowflake()
        now = _now_iso()
        thread: dict[str, Any] = {
            "id": str(tid),
            "type": ttype,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": self.bot_user["id"],
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration") or 4320,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
                **({"invitable": body.get("invitable", True)} if ttype == 12 else {}),
            },
        }
        if parent["type"] in (15, 16):
            thread["applied_tags"] = body.get("applied_tags") or []
        self.channels[tid] = thread
        rec.message_id = tid if source is not None else None
        thread_member = {"id": str(tid), "user_id": self.bot_user["id"], "join_timestamp": now, "flags": 1}
        response = dict(thread)
        if parent["type"] in (15, 16):  # forum posts carry their starter message (id == thread id)
            starter = self._build_message(tid, body.get("message") or {}, rec.files)
            starter["id"] = str(tid)
            response["message"] = self._store(starter)
        if source is not None:
            source["flags"] |= MESSAGE_FLAG_HAS_THREAD
            source["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True, "member": thread_member})
        if source is not None:
            await self._announce("MESSAGE_UPDATE", source)
        elif ttype == 11 and parent["type"] == 0:  # "X started a thread" system message in the parent
            notice = {**self._build_message(int(parent["id"]), {"content": name}, []), "type": 18}
            notice["message_reference"] = {"type": 0, "channel_id": str(tid), "guild_id": parent["guild_id"]}
            await self._announce("MESSAGE_CREATE", self._store(notice))
        return 201 if parent["type"] in (15, 16) else 200, response

    async def _thread_member(self, rec: RecordedRequest) -> tuple[int, Any]:
        thread = self._channel(rec.params["channel_id"])
        if thread["type"] not in THREAD_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        delta = 1 if rec.method == "PUT" else -1
        thread["member_count"] = max(0, thread["member_count"] + delta)
        return 204, None

    # ------------------------------------------------------------------------- interactions

    async def _callback(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self.interactions.get(int(rec.params["interaction_id"]))
        if inter is None or inter.token != rec.params["interaction_token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        if time.monotonic() - inter.created > self.interaction_ack_deadline and not inter.acknowledged:
            raise ApiError(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = rec.json or {}
        rtype, data = int(body.get("type", 0)), body.get("data") or {}
        self._check_callback_type(inter, rtype, data)
        ephemeral = bool(int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
        message: dict[str, Any] | None = None
        if rtype in (CallbackType.CHANNEL_MESSAGE, CallbackType.DEFERRED_CHANNEL_MESSAGE):
            payload = data if rtype == CallbackType.CHANNEL_MESSAGE else {"flags": MESSAGE_FLAG_LOADING}
            message = self._store(self._interaction_message(inter, payload, rec.files, ephemeral=ephemeral))
            inter.response_type, inter.original_message_id = rtype, int(message["id"])
            rec.message_id, rec.effect = inter.original_message_id, "create"
            await self._announce("MESSAGE_CREATE", message)
        elif rtype in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            source = inter.payload.get("message")
            if source is not None and int(source["id"]) in self.messages:
                message = self.messages[int(source["id"])]
                inter.original_message_id = int(message["id"])
                if rtype == CallbackType.UPDATE_MESSAGE:
                    self._edit(message, data, rec)
                    await self._announce("MESSAGE_UPDATE", message)
        elif rtype == CallbackType.MODAL:
            self.modals.append((inter, data))
        inter.response_type = rtype
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        result: dict[str, Any] = {"interaction": {"id": str(inter.id), "type": inter.type}}
        if message is not None:
            result["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=rtype == CallbackType.DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=bool(message["flags"] & MESSAGE_FLAG_EPHEMERAL),
            )
        result["resource"] = {"type": rtype, **({"message": message} if message is not None else {})}
        return 200, result

    def _check_callback_type(self, inter: FakeInteraction, rtype: int, data: dict[str, Any]) -> None:
        allowed = {
            InteractionType.APPLICATION_COMMAND: {4, 5, 9},
            InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
            InteractionType.AUTOCOMPLETE: {8},
            InteractionType.MODAL_SUBMIT: {4, 5, 6, 7} if "message" in inter.payload else {4, 5},
        }[InteractionType(inter.type)]
        if rtype not in allowed:
            raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid response type {rtype}")
        if rtype == CallbackType.MODAL:
            if not data.get("custom_id") or not 1 <= len(data.get("title") or "") <= 45:
                raise _form_error("data", "BASE_TYPE_REQUIRED", "Modal needs custom_id and a 1-45 char title")
            if not 1 <= len(data.get("components") or []) <= 5:
                raise _form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")

    def _interaction_message(
        self,
        inter: FakeInteraction,
        payload: dict[str, Any],
        files: Sequence[RecordedFile],
        *,
        ephemeral: bool,
    ) -> dict[str, Any]:
        msg = self._build_message(inter.channel_id, payload, files, ephemeral=ephemeral)
        data = inter.payload.get("data", {})
        user = inter.payload.get("member", {}).get("user") or inter.payload.get("user")
        command_type = data.get("type", 1)
        msg["type"] = {1: 20, 2: 23, 3: 23}.get(command_type, 20) if inter.type == 2 else 0
        msg["webhook_id"] = str(self.application_id)
        msg["application_id"] = str(self.application_id)
        metadata: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": inter.payload.get("authorizing_integration_owners", {}),
        }
        if inter.type == InteractionType.APPLICATION_COMMAND:
            metadata.update(name=data.get("name"), command_type=command_type)
            msg["interaction"] = {"id": str(inter.id), "type": 2, "name": data.get("name"), "user": user}
        if "message" in inter.payload:
            metadata["interacted_message_id"] = inter.payload["message"]["id"]
        if inter.original_message_id is not None:
            metadata["original_response_message_id"] = str(inter.original_message_id)
        msg["interaction_metadata"] = metadata
        return msg

    def _webhook_interaction(self, rec: RecordedRequest) -> FakeInteraction:
        inter = self._interaction_by_token(rec.params["webhook_token"])
        if rec.params["webhook_id"] != str(self.application_id) or inter is None or not inter.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        return inter

    async def _webhook_execute(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._webhook_interaction(rec)
        payload = rec.json or {}
        original = self.messages.get(inter.original_message_id or 0)
        if original is not None and original["flags"] & MESSAGE_FLAG_LOADING:
            # The first follow-up after a deferred (type 5) response fills the "thinking" message;
            # it keeps the defer's ephemerality whatever flags the follow-up asked for.
            self._edit(original, {k: v for k, v in payload.items() if k != "flags"}, rec)
            msg = original
            inter.followup_ids.append(int(msg["id"]))
            await self._announce("MESSAGE_UPDATE", msg)
        else:
            ephemeral = bool(int(payload.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
            msg = self._store(self._interaction_message(inter, payload, rec.files, ephemeral=ephemeral))
            inter.followup_ids.append(int(msg["id"]))
            rec.message_id, rec.effect = int(msg["id"]), "create"
            await self._announce("MESSAGE_CREATE", msg)
        if rec.query.get("wait") in ("1", "true", "True"):
            return 200, msg
        return 204, None

    async def _webhook_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._webhook_interaction(rec)
        raw_id = rec.params["message_id"]
        mid = inter.original_message_id if raw_id == "@original" else int(raw_id)
        owned = {inter.original_message_id, *inter.followup_ids}
        msg = self.messages.get(mid or 0)
        if msg is None or mid not in owned:
            raise ApiError(404, 10008, "Unknown Message")
        if rec.method == "GET":
            return 200, msg
        if rec.method == "DELETE":
            self._delete(msg, rec)
            await self._announce("MESSAGE_DELETE", msg)
            return 204, None
        self._edit(msg, rec.json or {}, rec)
        await self._announce("MESSAGE_UPDATE", msg)
        return 200, msg

    # ================================================================================ injection

    def _resolve_location(
        self, guild_id: int | None, channel_id: int | None, user: dict[str, Any], dm: bool
    ) -> tuple[int | None, int]:
        if dm:
            return None, int(self.dm_channel(user)["id"])
        if channel_id is not None:
            channel = self._channel(channel_id)
            return _sid(channel.get("guild_id")) if guild_id is None else guild_id, channel_id
        gid = guild_id or self.guild_id
        return gid, self.text_channels(gid)[0]

    def _interaction_payload(
        self,
        itype: InteractionType,
        data: dict[str, Any] | None,
        *,
        user: dict[str, Any] | None,
        guild_id: int | None,
        channel_id: int | None,
        member_permissions: int | None,
        locale: str,
        dm: bool = False,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        user = user or self.user
        gid, cid = self._resolve_location(guild_id, channel_id, user, dm)
        iid = self.snowflake()
        channel = dict(self.channels[cid])
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": int(itype),
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96),
            "version": 1,
            "channel_id": str(cid),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if data is not None:
            payload["data"] = data
        if gid is not None:
            uid = int(user["id"])
            if uid not in self.members[gid]:
                self.add_member(gid, user)
            perms = self.permissions_for(uid, cid) if member_permissions is None else member_permissions
            channel["permissions"] = str(perms)
            payload.update(
                guild_id=str(gid),
                guild={"id": str(gid), "locale": self.guilds[gid]["preferred_locale"], "features": []},
                guild_locale=self.guilds[gid]["preferred_locale"],
                member={**self._member_payload(gid, uid), "permissions": str(perms)},
                app_permissions=str(self.permissions_for(self.bot_id, cid)),
                authorizing_integration_owners={"0": str(gid)},
                context=0,
            )
        else:
            payload.update(
                user=user,
                app_permissions=str(self.permissions_for(self.bot_id, cid)),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        payload["channel"] = channel
        if message is not None:
            payload["message"] = message
        return payload

    async def _dispatch_interaction(self, payload: dict[str, Any]) -> FakeInteraction:
        inter = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            created=time.monotonic(),
            channel_id=int(payload["channel_id"]),
            guild_id=_sid(payload.get("guild_id")),
        )
        self.interactions[inter.id] = inter
        await self.dispatch("INTERACTION_CREATE", payload)
        return inter

    def _find_command(self, name: str, ctype: int, guild_id: int | None) -> dict[str, Any] | None:
        for scope in (guild_id, None) if guild_id is not None else (None,):
            found = self.commands.get(scope, {}).get((name, ctype))
            if found is not None:
                return found
        if self.strict_commands:
            raise LookupError(f"command {name!r} (type {ctype}) is not registered for guild {guild_id}")
        return None

    def _command_data(self, name: str, ctype: int, guild_id: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        schema = self._find_command(name, ctype, guild_id)
        data: dict[str, Any] = {
            "id": schema["id"] if schema else str(self.snowflake()),
            "name": name,
            "type": ctype,
        }
        if schema is not None and "guild_id" in schema:
            data["guild_id"] = schema["guild_id"]
        return data, schema or {}

    async def dispatch_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        user: dict[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
        dm: bool = False,
        focused: str | None = None,
    ) -> FakeInteraction:
        """Dispatch a CHAT_INPUT interaction. ``name`` may be "group sub" for subcommands.

        ``options`` is either raw Discord option dicts or ``{name: value}``; types come from the
        synced command schema when known (attachments: pass the dict from ``add_attachment``;
        users/channels/roles: pass the object or its id). ``focused`` makes it an AUTOCOMPLETE.
        """
        root, *path = name.split()
        gid = None if dm else (guild_id or self._resolve_location(None, channel_id, user or self.user, False)[0])
        data, schema = self._command_data(root, 1, gid)
        resolved: dict[str, dict[str, Any]] = {}
        if options is None or isinstance(options, Mapping):
            built = self._build_options(schema, path, dict(options or {}), resolved, gid, focused)
        else:
            built = list(options)
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        itype = InteractionType.AUTOCOMPLETE if focused else InteractionType.APPLICATION_COMMAND
        payload = self._interaction_payload(
            itype,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            member_permissions=member_permissions,
            locale=locale,
            dm=dm,
        )
        return await self._dispatch_interaction(payload)

    def _build_options(
        self,
        schema: dict[str, Any],
        path: list[str],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild_id: int | None,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        level = schema.get("options") or []
        wrappers: list[dict[str, Any]] = []
        for sub in path:
            spec = next((o for o in level if o["name"] == sub), None)
            wrappers.append({"type": spec["type"] if spec else (2 if sub != path[-1] else 1), "name": sub})
            level = (spec or {}).get("options") or []
        specs = {o["name"]: o for o in level}
        if specs:
            unknown = set(values) - set(specs)
            missing = {n for n, o in specs.items() if o.get("required") and n not in values and n != focused}
            if unknown or missing:
                raise ValueError(f"options do not match the synced schema: unknown={unknown}, missing={missing}")
        built = []
        for opt_name, value in values.items():
            otype = specs.get(opt_name, {}).get("type") or _infer_option_type(value)
            option = {
                "name": opt_name,
                "type": otype,
                "value": self._resolve_option(otype, value, resolved, guild_id),
            }
            if opt_name == focused:
                option["focused"] = True
            built.append(option)
        for wrapper in reversed(wrappers):
            wrapper["options"] = built
            built = [wrapper]
        return built

    def _resolve_option(self, otype: int, value: Any, resolved: dict[str, dict[str, Any]], gid: int | None) -> Any:
        if otype == 11:  # attachment
            resolved.setdefault("attachments", {})[value["id"]] = value
            return value["id"]
        if otype not in (6, 7, 8, 9):
            return value
        is_user = value.get("username") is not None if isinstance(value, dict) else int(value) in self.users
        if otype in (6, 9) and is_user:
            user = value if isinstance(value, dict) else self.users[int(value)]
            resolved.setdefault("users", {})[user["id"]] = user
            if gid is not None and int(user["id"]) in self.members[gid]:
                member = self._member_payload(gid, int(user["id"]), with_user=False)
                member["permissions"] = str(self.permissions_for(int(user["id"]), self.text_channels(gid)[0]))
                resolved.setdefault("members", {})[user["id"]] = member
            return user["id"]
        if otype in (8, 9):  # role
            role = value if isinstance(value, dict) else self.roles[gid or 0][int(value)]
            resolved.setdefault("roles", {})[role["id"]] = role
            return role["id"]
        if otype == 7:  # channel
            channel = value if isinstance(value, dict) else self.channels[int(value)]
            partial = {k: channel[k] for k in ("id", "name", "type", "parent_id", "thread_metadata") if k in channel}
            partial["permissions"] = str(self.permissions_for(int(self.user["id"]), int(channel["id"])))
            resolved.setdefault("channels", {})[channel["id"]] = partial
            return channel["id"]
        return value

    async def dispatch_user_command(
        self, name: str, target: dict[str, Any], *, user: dict[str, Any] | None = None, **kwargs: Any
    ) -> FakeInteraction:
        """USER context-menu command (data.type 2) targeting ``target``."""
        return await self._dispatch_context_menu(name, 2, target, user=user, **kwargs)

    async def dispatch_message_command(
        self, name: str, target: dict[str, Any] | int, *, user: dict[str, Any] | None = None, **kwargs: Any
    ) -> FakeInteraction:
        """MESSAGE context-menu command (data.type 3) with ``target_id`` and ``resolved.messages``."""
        msg = target if isinstance(target, dict) else self.messages[int(target)]
        kwargs.setdefault("channel_id", int(msg["channel_id"]))
        return await self._dispatch_context_menu(name, 3, msg, user=user, **kwargs)

    async def _dispatch_context_menu(
        self,
        name: str,
        ctype: int,
        target: dict[str, Any],
        *,
        user: dict[str, Any] | None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        gid = self._resolve_location(guild_id, channel_id, user or self.user, False)[0]
        data, _ = self._command_data(name, ctype, gid)
        data["target_id"] = target["id"]
        resolved: dict[str, dict[str, Any]] = {}
        if ctype == 3:
            resolved["messages"] = {target["id"]: self._gateway_message(target)}
        else:
            self._resolve_option(6, target, resolved, gid)
        data["resolved"] = resolved
        payload = self._interaction_payload(
            InteractionType.APPLICATION_COMMAND,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            member_permissions=member_permissions,
            locale=locale,
        )
        return await self._dispatch_interaction(payload)

    def _find_component(self, custom_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for msg in sorted(self.messages.values(), key=lambda m: int(m["id"]), reverse=True):
            for comp in _walk_components(msg.get("components", [])):
                if comp.get("custom_id") == custom_id:
                    return msg, comp
        return None

    async def dispatch_component(
        self,
        custom_id: str,
        *,
        message: dict[str, Any] | int | None = None,
        values: Sequence[str] | None = None,
        component_type: int | None = None,
        user: dict[str, Any] | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Click a button / pick select values. Without ``message``, the newest stored message that
        carries a component with ``custom_id`` is used (like a user clicking it).

        Requests are recorded when the fake *receives* them, i.e. possibly before discord.py has parsed
        the response. A non-persistent view is only registered (``store_view``) after that, so wait for a
        bot-side signal (e.g. ``client.wait_for("app_command_completion")``) before clicking it."""
        if message is None:
            found = self._find_component(custom_id)
            if found is None:
                raise LookupError(f"no stored message has a component with custom_id {custom_id!r}")
            msg, comp = found
        else:
            msg = message if isinstance(message, dict) else self.messages[int(message)]
            comp = next(
                (c for c in _walk_components(msg.get("components", [])) if c.get("custom_id") == custom_id),
                {},
            )
        ctype = component_type or comp.get("type", 2)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if "id" in comp:
            data["id"] = comp["id"]
        if ctype in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        payload = self._interaction_payload(
            InteractionType.MESSAGE_COMPONENT,
            data,
            user=user,
            guild_id=None,
            channel_id=int(msg["channel_id"]),
            member_permissions=member_permissions,
            locale=locale,
            dm="guild_id" not in self.channels[int(msg["channel_id"])],
            message=msg,
        )
        return await self._dispatch_interaction(payload)

    async def dispatch_modal_submit(
        self,
        custom_id: str,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: dict[str, Any] | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Submit the newest modal the bot opened with ``custom_id``; ``values`` maps component
        custom_id -> text (or list of values for selects). The submitted structure mirrors the modal
        (action rows or labels), as the Discord client does."""
        opened = next(((i, d) for i, d in reversed(self.modals) if d.get("custom_id") == custom_id), None)
        if opened is None:
            raise LookupError(f"the bot never opened a modal with custom_id {custom_id!r}")
        origin, modal = opened
        components = _mirror_modal(modal.get("components", []), dict(values))
        data = {"custom_id": custom_id, "components": components}
        message = origin.payload.get("message")
        if message is not None:
            message = self.messages.get(int(message["id"]), message)
        payload = self._interaction_payload(
            InteractionType.MODAL_SUBMIT,
            data,
            user=user or origin.payload.get("member", {}).get("user") or origin.payload.get("user"),
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            member_permissions=member_permissions,
            locale=locale,
            dm=origin.guild_id is None,
            message=message,
        )
        return await self._dispatch_interaction(payload)

    async def dispatch_message(
        self,
        content: str,
        *,
        author: dict[str, Any] | None = None,
        channel_id: int | None = None,
        guild_id: int | None = None,
        attachments: Sequence[dict[str, Any]] = (),
        mentions: Sequence[dict[str, Any] | int] = (),
        message_reference: dict[str, Any] | int | None = None,
        embeds: Sequence[dict[str, Any]] = (),
        dm: bool = False,
    ) -> dict[str, Any]:
        """A user posts a message (MESSAGE_CREATE). Mentions in ``content`` (``<@id>``) are parsed
        too; without the MESSAGE_CONTENT intent the bot gets scrubbed content unless mentioned."""
        author = author or self.user
        gid, cid = self._resolve_location(guild_id, channel_id, author, dm)
        if gid is not None and int(author["id"]) not in self.members[gid]:
            self.add_member(gid, author)
        payload: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if message_reference is not None:
            ref = message_reference if isinstance(message_reference, dict) else {"message_id": message_reference}
            payload["message_reference"] = {"channel_id": str(cid), **ref}
        msg = self._build_message(cid, payload, [], author=author, attachments=attachments)
        for extra in mentions:
            user = extra if isinstance(extra, dict) else self.users[int(extra)]
            if all(u["id"] != user["id"] for u in msg["mentions"]):
                msg["mentions"].append(user)
        self._store(msg)
        await self._announce("MESSAGE_CREATE", msg)
        return msg


# --------------------------------------------------------------------------------------------------
# helpers


_INVALID_JSON = object()


def _parse_json(raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _bucket_hash(route: str) -> str:
    return hashlib.md5(route.encode()).hexdigest()


def _ratelimit_headers(route: str) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "4",
        "X-RateLimit-Reset": f"{time.time() + 1:.3f}",
        "X-RateLimit-Reset-After": "1.000",
        "X-RateLimit-Bucket": _bucket_hash(route),
    }


def _image_size(data: bytes, content_type: str) -> dict[str, int]:
    if not content_type.startswith("image/"):
        return {}
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            return {"width": img.width, "height": img.height}
    except Exception:
        return {}


def _walk_components(components: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for comp in components:
        yield comp
        yield from _walk_components(comp.get("components", []))
        if "component" in comp:
            yield from _walk_components([comp["component"]])
        if "accessory" in comp:
            yield from _walk_components([comp["accessory"]])


def _number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Discord assigns sequential numeric ``id``s to components that lack one."""
    counter = itertools.count(1)
    taken = {c["id"] for c in _walk_components(components) if "id" in c}

    def assign(comps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for comp in comps:
            comp = dict(comp)
            if "id" not in comp:
                comp["id"] = next(i for i in counter if i not in taken)
            if "components" in comp:
                comp["components"] = assign(comp["components"])
            for key in ("component", "accessory"):
                if key in comp:
                    comp[key] = assign([comp[key]])[0]
            out.append(comp)
        return out

    return assign(components)


def _mirror_modal(components: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    counter = itertools.count(1)

    def one(comp: dict[str, Any]) -> dict[str, Any]:
        ctype, cid = comp["type"], comp.get("custom_id")
        out: dict[str, Any] = {"type": ctype, "id": comp.get("id", next(counter))}
        if ctype == 1:
            out["components"] = [one(c) for c in comp["components"]]
        elif ctype == 18:  # label
            out["component"] = one(comp["component"])
        elif ctype == 4:  # text input
            value = values.pop(cid, comp.get("value") or "")
            if comp.get("required", True) and not value:
                raise ValueError(f"text input {cid!r} is required")
            out.update(custom_id=cid, value=value)
        elif ctype in (3, 5, 6, 7, 8):
            out.update(custom_id=cid, values=list(values.pop(cid, [])))
        return out

    mirrored = [one(c) for c in components]
    if values:
        raise ValueError(f"modal has no inputs named {sorted(values)}")
    return mirrored


def _infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, dict) and "filename" in value:
        return 11
    if isinstance(value, dict) and "username" in value:
        return 6
    return 3


_INTENT_FOR_EVENT = {
    "GUILD_CREATE": Intent.GUILDS,
    "THREAD_CREATE": Intent.GUILDS,
    "THREAD_UPDATE": Intent.GUILDS,
    "THREAD_DELETE": Intent.GUILDS,
    "CHANNEL_CREATE": Intent.GUILDS,
    "GUILD_MEMBER_ADD": Intent.GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": Intent.GUILD_MEMBERS,
}


def _shape_for_intents(event: str, data: dict[str, Any], intents: int, bot_id: int) -> dict[str, Any] | None:
    """Drop events the session did not subscribe to; scrub content without MESSAGE_CONTENT."""
    if event.startswith("MESSAGE_REACTION"):
        needed = Intent.GUILD_MESSAGE_REACTIONS if "guild_id" in data else Intent.DIRECT_MESSAGE_REACTIONS
    elif event.startswith("MESSAGE_"):
        needed = Intent.GUILD_MESSAGES if "guild_id" in data else Intent.DIRECT_MESSAGES
    else:
        needed = _INTENT_FOR_EVENT.get(event, 0)
    if needed and not intents & needed:
        return None
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not intents & Intent.MESSAGE_CONTENT:
        exempt = (
            "guild_id" not in data
            or data.get("author", {}).get("id") == str(bot_id)
            or any(u["id"] == str(bot_id) for u in data.get("mentions", []))
        )
        if not exempt:
            data = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
            data.pop("poll", None)
    return data
