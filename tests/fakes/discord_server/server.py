"""``FakeDiscord``: the composed fake (one mixin per protocol area), its constructor, HTTP app and routes,
lifecycle and URLs, and patching discord.py to use it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from aiohttp import web

from .commands import CommandsMixin
from .interactions import InteractionsMixin
from .models import API_PREFIX, BOT_PERMISSIONS
from .rest import RestMixin
from .threads import ThreadsMixin
from .waiting import WaitingMixin


class FakeDiscord(RestMixin, ThreadsMixin, InteractionsMixin, CommandsMixin, WaitingMixin):
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
        interaction_token_seconds: float = 15 * 60,
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
        self.interaction_token_seconds = interaction_token_seconds
        self.ratelimit_headers = ratelimit_headers
        self.strict_commands = strict_commands
        self.bot_permissions = bot_permissions

        # state
        self.users = {}
        self.guilds = {}  # guild-only fields
        self.roles = {}  # guild_id -> role_id -> role
        self.members = {}  # guild_id -> user_id -> member (no user)
        self.channels = {}  # guild channels, threads and DMs
        self.messages = {}
        self.deleted_messages = {}
        self.commands = {}
        self.interactions = {}
        self.modals = []
        self._blobs = {}
        self._dm_by_user = {}

        # records
        self.requests = []
        self.gateway_received = []
        self.cdn_requests = []
        self.gateway_queries = []  # path + query string of each gateway connect
        self.identify = None
        self.identifies = []
        self.required_shards = 1
        self.max_concurrency = 1
        self.internal_errors = []
        self._injected = []
        self._sessions = {}
        self._conns = set()
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

    def _add_rest_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Callable[..., Any], bool]] = [
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway, True),
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/users/@me/guilds", self._get_my_guilds, True),
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
