"""The Discord adapter's lifecycle: build the discord.py client (intents, commands, persistent buttons),
sync the slash commands (to DISCORD_GUILD_IDS for fast development, else globally), connect, stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
from discord import app_commands

from adapters.discord.commands import register_commands
from adapters.discord.desk import DiscordDesk
from adapters.discord.inflight import InFlight, turned_away
from adapters.discord.interactions import AtelierInteractions
from adapters.discord.recovery import PLATFORM, keep_telling
from adapters.discord.reply import Pacing
from adapters.discord.threads import ChatThreads, MessageChat
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


class AtelierClient(discord.Client):
    def __init__(
        self,
        settings: Settings,
        handler: AtelierInteractions,
        chat: MessageChat,
        in_flight: InFlight,
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
        self.taking_requests = True  # off while stopping: running work finishes, new work is turned away
        register_commands(self.tree, handler, settings)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ActionButton, ModButton)
        await sync_commands(self.tree, self._settings.discord_guild_id_list)

    async def on_ready(self) -> None:
        log.info("discord: connected as %s (%s guilds)", self.user, len(self.guilds))

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


async def sync_commands(tree: app_commands.CommandTree, guild_ids: list[int]) -> None:
    if not guild_ids:
        synced = await tree.sync()
        log.info("discord: %d commands registered globally (Discord may take a while to show changes)", len(synced))
        return
    for guild_id in guild_ids:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        try:
            synced = await tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.error(
                "discord: could not register commands in guild %s (%s): is the bot in it, invited with the "
                "applications.commands scope?",
                guild_id,
                exc.status,
            )
            continue
        log.info("discord: %d commands registered in guild %s", len(synced), guild_id)


class DiscordAdapter:
    name = "discord"

    def __init__(
        self,
        core: Atelier,
        settings: Settings,
        *,
        guild_ready_timeout: float = 2.0,
        ready_timeout: float = 60.0,
        drain_seconds: float = 20.0,
        clock: Clock = MONOTONIC,  # what message-edit pacing reads
    ) -> None:
        self._core = core
        self._clock = clock
        self._settings = settings
        self._drain_seconds = drain_seconds
        self._guild_ready_timeout = guild_ready_timeout
        self._ready_timeout = ready_timeout
        self.client: AtelierClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None  # telling users of jobs a crash cut off

    def _build_client(self) -> AtelierClient:
        pacing = Pacing.from_settings(self._settings, self._clock)
        threads = ChatThreads(self._core)
        in_flight = InFlight()
        handler = AtelierInteractions(self._core, threads, pacing, in_flight)
        chat = MessageChat(self._core, threads, pacing, in_flight)
        return AtelierClient(self._settings, handler, chat, in_flight, guild_ready_timeout=self._guild_ready_timeout)

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
    return DiscordStartError(f"Discord client stopped: {exc!r}")
