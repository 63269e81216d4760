"""The Discord adapter's lifecycle: build the discord.py client (intents, commands, persistent buttons, the shards
this process runs), sync the slash commands when they changed (to DISCORD_GUILD_IDS for fast
development, else globally), connect, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
from discord import app_commands

from adapters.discord.command_sync import CommandSync
from adapters.discord.commands import register_commands
from adapters.discord.desk import DiscordDesk
from adapters.discord.inflight import InFlight, turned_away
from adapters.discord.interactions import AtelierInteractions
from adapters.discord.recovery import PLATFORM, keep_telling
from adapters.discord.reply import Pacing
from adapters.discord.shards import IdentifyPacing, ShardPlan, ShardSettingsError
from adapters.discord.threads import ChatThreads, MessageChat
from adapters.discord.token_life import USABLE_TOKEN_SECONDS
from adapters.discord.views import ActionButton, ModButton
from bot.clock import MONOTONIC, Clock
from bot.config import Settings
from bot.core import Atelier
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class DiscordStartError(RuntimeError):
    """Discord refused to start the bot; the message says what to fix."""


def intents_for(settings: Settings) -> discord.Intents:
    intents = discord.Intents.default()  # guilds, guild and DM messages; no members, no presences
    intents.message_content = settings.discord_message_content  # plain messages in chat threads
    return intents


class AtelierClient(discord.AutoShardedClient):
    """The bot over one gateway connection per shard it runs (discord.py routes each guild to its shard's);
    with DISCORD_SHARD_COUNT unset, as many shards as Discord recommends (one, for most bots)."""

    def __init__(
        self,
        settings: Settings,
        handler: AtelierInteractions,
        chat: MessageChat,
        in_flight: InFlight,
        command_sync: CommandSync | None = None,  # None: this process leaves the commands to shard 0's
        **options: object,
    ) -> None:
        super().__init__(
            intents=intents_for(settings),
            # Model output must never ping @everyone or a role; replies do not ping their author.
            allowed_mentions=discord.AllowedMentions.none(),
            **options,  # type: ignore[arg-type]
        )
        self.tree = AtelierTree(self)
        self.atelier_actions = handler  # found by ActionButton.callback through interaction.client
        self._settings = settings
        self._handler = handler
        self._chat = chat
        self.in_flight = in_flight
        self._command_sync = command_sync
        self._identify_pacing = IdentifyPacing()
        self._max_concurrency: int | None = None  # read from Discord before the first IDENTIFY
        self.taking_requests = True  # off while stopping: running work finishes, new work is turned away
        register_commands(self.tree, handler, settings)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton, ModButton)
        if self._command_sync is not None:
            await self._command_sync.sync(self.tree, self._settings.discord_guild_id_list)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if self._max_concurrency is None:
            try:
                limits = await asyncio.wait_for(self.fetch_session_start_limits(), 10)
                self._max_concurrency = limits.max_concurrency
            except (discord.HTTPException, discord.GatewayNotFound, TimeoutError):
                self._max_concurrency = 1  # the safe pace: one IDENTIFY every 5 s
        await self._identify_pacing.wait(shard_id or 0, self._max_concurrency)

    async def on_ready(self) -> None:
        log.info(
            "discord: connected as %s, shards %s of %s (%s guilds)",
            self.user,
            sorted(self.shards),
            self.shard_count,
            len(self.guilds),
        )

    async def on_message(self, message: discord.Message) -> None:
        if self.user is None or not self.taking_requests:
            return
        try:
            await self._chat.on_message(message, self.user)
        except Exception:
            log.exception("discord: handling a message failed")

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if await turned_away(interaction):
            return
        try:
            await self._handler.on_interaction(interaction)
        except Exception:
            log.exception("discord: handling a form failed")


class AtelierTree(app_commands.CommandTree):
    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Slash commands reach the tree, not `on_interaction`: turned away here while stopping."""
        return not await turned_away(interaction)


class DiscordAdapter:
    name = "discord"
    failure: asyncio.Future[str] | None = None  # it never stops on its own (see adapters.platforms)

    def __init__(
        self,
        core: Atelier,
        settings: Settings,
        *,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 60.0,
        drain_seconds: float = 20.0,
        clock: Clock = MONOTONIC,  # what message-edit pacing (and an interaction token's age) reads
        token_seconds: float = USABLE_TOKEN_SECONDS,  # how long an interaction's token is used (tests shorten it)
    ) -> None:
        self._core = core
        self._clock = clock
        self._token_seconds = token_seconds
        self._settings = settings
        self._drain_seconds = drain_seconds
        self._guild_ready_timeout = guild_ready_timeout
        self._ready_timeout = ready_timeout
        self.client: AtelierClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None  # telling users of jobs a crash cut off

    def _build_client(self) -> AtelierClient:
        pacing = Pacing.from_settings(self._settings, self._clock, self._token_seconds)
        threads = ChatThreads(self._core)
        in_flight = InFlight()
        handler = AtelierInteractions(self._core, threads, pacing, in_flight)
        chat = MessageChat(self._core, threads, pacing, in_flight)
        try:
            plan = ShardPlan.from_settings(self._settings)
        except ShardSettingsError as exc:
            raise DiscordStartError(str(exc)) from None
        command_sync = CommandSync(self._core.store.settings) if plan.syncs_commands else None
        return AtelierClient(
            self._settings,
            handler,
            chat,
            in_flight,
            command_sync,
            guild_ready_timeout=self._guild_ready_timeout,
            http_trace=self._core.metrics.aiohttp_trace(self.name),  # every REST call and its status
            **plan.client_options(),
        )

    async def start(self) -> None:
        """Log in, sync commands and connect; return once the gateway is ready."""
        if self._settings.discord_token is None:
            raise DiscordStartError("DISCORD_TOKEN is not set.")
        client = self.client = self._build_client()
        self._task = asyncio.create_task(client.start(self._settings.discord_token.get_secret_value()))
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait({self._task, ready}, timeout=self._ready_timeout, return_when="FIRST_COMPLETED")
        if ready in done:
            desk = DiscordDesk(
                client, self._core.store.conversations, max_upload=self._settings.discord_max_upload_bytes
            )
            self._core.attach_desk(PLATFORM, desk)
            self._recovery = asyncio.create_task(keep_telling(self._core, client))
            return
        await cancel_and_wait(ready)
        if self._task in done:
            failure = _explain(self._task.exception())
            await client.close()
            raise failure
        await self.stop()
        raise DiscordStartError(f"Discord did not become ready within {self._ready_timeout:.0f}s.")

    def alive(self) -> bool:
        """Connected, or reconnecting as discord.py does on its own; False once the client has stopped
        (a fatal close such as a revoked token ends its task) or is stopping."""
        client, task = self.client, self._task
        if client is None or task is None or task.done() or client.is_closed():
            return False
        return client.taking_requests

    async def stop_intake(self) -> None:
        """Turn new messages and commands away; running handlers go on and can still answer."""
        if self.client is not None:
            self.client.taking_requests = False

    async def close(self, grace: float | None = None) -> None:
        """Let running handlers finish (their answers need the connection), then disconnect."""
        await cancel_and_wait(self._recovery)
        if self.client is not None:
            left = await self.client.in_flight.wait(self._drain_seconds if grace is None else grace)
            if left:
                log.warning("discord: stopping with %d request(s) unfinished", left)
            await self.client.close()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)
        self.client = self._task = None

    async def stop(self) -> None:
        await self.stop_intake()
        await self.close()


def _explain(exc: BaseException | None) -> Exception:
    if isinstance(exc, discord.LoginFailure):
        return DiscordStartError("Discord rejected DISCORD_TOKEN: copy the bot token again from the Developer Portal.")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return DiscordStartError(
            "Discord refused the Message Content intent: enable it in the Developer Portal (Bot -> Privileged "
            "Gateway Intents), or set DISCORD_MESSAGE_CONTENT=false (chat threads then answer only mentions)."
        )
    if isinstance(exc, discord.ConnectionClosed) and exc.code == 4011:
        return DiscordStartError(
            "Discord needs more shards for this bot (it is in too many servers): raise DISCORD_SHARD_COUNT, "
            "or unset it to run as many as Discord recommends."
        )
    if isinstance(exc, discord.ConnectionClosed) and exc.code == 4010:
        return DiscordStartError("Discord refused the shard settings: check DISCORD_SHARD_COUNT and DISCORD_SHARD_IDS.")
    return DiscordStartError(f"Discord client stopped: {exc!r}")
