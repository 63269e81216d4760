"""Register the slash commands only when their definition changed: Discord allows 200 command creates a day,
and a bot that syncs on every start (or on every shard's ready) burns through them. The hash of what was last
registered, per target (global or one guild), is kept in the store."""

from __future__ import annotations

import hashlib
import json
import logging

import discord
from discord import app_commands

from bot.store.settings import ScopeSettingsStore

log = logging.getLogger(__name__)

HASH_SCOPE = "operator:discord"  # a scope no guild or chat uses


def commands_hash(tree: app_commands.CommandTree, application_id: int | None, guild: discord.Object | None) -> str:
    """A digest of the exact payload `tree.sync(guild=...)` would send (and of the application it goes to)."""
    payload = [command.to_dict(tree) for command in tree._get_all_commands(guild=guild)]
    payload.sort(key=lambda command: (command.get("type", 1), command["name"]))
    text = json.dumps({"application": application_id, "commands": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CommandSync:
    def __init__(self, settings: ScopeSettingsStore) -> None:
        self._settings = settings

    async def sync(self, tree: app_commands.CommandTree, guild_ids: list[int]) -> None:
        """Sync to each development guild, or globally when there are none; unchanged targets are skipped."""
        if not guild_ids:
            await self._sync_one(tree, None)
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            tree.copy_global_to(guild=guild)
            await self._sync_one(tree, guild)

    async def _sync_one(self, tree: app_commands.CommandTree, guild: discord.Object | None) -> None:
        target = "global" if guild is None else f"guild:{guild.id}"
        name = f"commands_hash:{target}"
        digest = commands_hash(tree, tree.client.application_id, guild)
        if (await self._settings.all(HASH_SCOPE)).get(name) == digest:
            log.info("discord: commands unchanged (%s), not registering them again", target)
            return
        try:
            synced = await tree.sync(guild=guild)
        except discord.HTTPException as exc:
            if guild is None:
                raise
            log.error(
                "discord: could not register commands in guild %s (%s): is the bot in it, invited with the "
                "applications.commands scope?",
                guild.id,
                exc.status,
            )
            return
        await self._settings.set(HASH_SCOPE, name, digest)  # only once Discord has them
        if guild is None:
            log.info("discord: %d commands registered globally (Discord may take a while to show them)", len(synced))
        else:
            log.info("discord: %d commands registered in guild %s", len(synced), guild.id)
