"""`/mod` as Discord slash subcommands. Each builds the same typed Moderate command the text form
parses and hands it to the core, which checks again that the member administers the server: the
Manage Server default permission only hides the command, and server admins can change who sees it."""

from __future__ import annotations

import discord
from discord import Interaction, app_commands

from adapters.discord.interactions import AtelierInteractions
from adapters.discord.requests import user_of
from bot.command import Moderate


def _choices(*values: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=value, value=value) for value in values]


ON_OFF = _choices("on", "off")


def mod_group(handler: AtelierInteractions) -> app_commands.Group:
    mod = app_commands.Group(
        name="mod",
        description="Admins: moderation for this server",
        default_permissions=discord.Permissions(manage_guild=True),
        guild_only=True,
    )
    block = app_commands.Group(name="block", description="This server's blocked prompt terms", parent=mod)
    roles = app_commands.Group(name="roles", description="Which roles may use the bot", parent=mod)

    async def run(interaction: Interaction, command: Moderate, channel_id: int | None = None) -> None:
        await handler.mod(interaction, command, channel_id)

    @mod.command(name="status", description="This server's moderation settings")
    async def status(interaction: Interaction) -> None:
        await run(interaction, Moderate())

    @block.command(name="add", description="Refuse prompts containing a term (re:<regex> for a pattern)")
    @app_commands.describe(term="A word or phrase; evasions (spacing, leetspeak, look-alikes) are caught too")
    async def block_add(interaction: Interaction, term: app_commands.Range[str, 1, 200]) -> None:
        await run(interaction, Moderate("block add", term))

    @block.command(name="remove", description="Stop refusing a term")
    async def block_remove(interaction: Interaction, term: app_commands.Range[str, 1, 200]) -> None:
        await run(interaction, Moderate("block remove", term))

    @block.command(name="list", description="This server's blocked terms")
    async def block_list(interaction: Interaction) -> None:
        await run(interaction, Moderate("block list"))

    @mod.command(name="ban", description="Stop someone using the bot here")
    @app_commands.describe(user="Who", duration="How long, e.g. 30m, 2h, 7d, 2w (empty: until unbanned)", reason="Why")
    async def ban(
        interaction: Interaction,
        user: discord.User,
        duration: app_commands.Range[str, 1, 20] | None = None,
        reason: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        argument = " ".join(part for part in (duration, reason) if part)
        await run(interaction, Moderate("ban", argument, target=user_of(user)))

    @mod.command(name="unban", description="Let someone use the bot here again")
    async def unban(interaction: Interaction, user: discord.User) -> None:
        await run(interaction, Moderate("unban", target=user_of(user)))

    @mod.command(name="bans", description="Who is banned from the bot here")
    async def bans(interaction: Interaction) -> None:
        await run(interaction, Moderate("bans"))

    @mod.command(name="channel", description="What the bot may do in a channel (threads follow their channel)")
    @app_commands.describe(
        mode="images, chat, all, off, or reset (follow the server's default)",
        scope="this channel, or the default for channels without a rule",
        channel="Which channel (default: this one)",
    )
    @app_commands.choices(mode=_choices("images", "chat", "all", "off", "reset"), scope=_choices("this", "default"))
    async def channel_(
        interaction: Interaction,
        mode: str,
        scope: str = "this",
        channel: discord.TextChannel | None = None,
    ) -> None:
        argument = f"default {mode}" if scope == "default" else mode
        await run(interaction, Moderate("channel", argument), channel.id if channel is not None else None)

    @roles.command(name="allow", description="Only members with an allowed role may use the bot")
    async def roles_allow(interaction: Interaction, role: discord.Role) -> None:
        await run(interaction, Moderate("roles allow", role.mention, role=str(role.id)))

    @roles.command(name="deny", description="Members with this role may not use the bot")
    async def roles_deny(interaction: Interaction, role: discord.Role) -> None:
        await run(interaction, Moderate("roles deny", role.mention, role=str(role.id)))

    @roles.command(name="clear", description="Forget the allow and deny lists")
    async def roles_clear(interaction: Interaction) -> None:
        await run(interaction, Moderate("roles clear"))

    @mod.command(name="strictness", description="How readily the moderation model flags prompts and images")
    @app_commands.choices(level=_choices("low", "medium", "high"))
    async def strictness(interaction: Interaction, level: str) -> None:
        await run(interaction, Moderate("strictness", level))

    @mod.command(name="output", description="Flagged results: withheld for moderators, or posted behind a spoiler")
    @app_commands.choices(mode=_choices("withhold", "spoiler"))
    async def output(interaction: Interaction, mode: str) -> None:
        await run(interaction, Moderate("output", mode))

    @mod.command(name="nsfw", description="Allow sexual content in age-restricted channels")
    @app_commands.choices(state=ON_OFF)
    async def nsfw(interaction: Interaction, state: str) -> None:
        await run(interaction, Moderate("nsfw", state))

    @mod.command(name="log", description="Recent moderation log entries")
    @app_commands.describe(count="How many (default 10)")
    async def log(interaction: Interaction, count: app_commands.Range[int, 1, 50] | None = None) -> None:
        await run(interaction, Moderate("log", "" if count is None else str(count)))

    @mod.command(name="logchannel", description="Post flagged and held items in this channel, for moderators")
    @app_commands.describe(state="here (default): this channel; off: stop posting them")
    @app_commands.choices(state=_choices("here", "off"))
    async def logchannel(interaction: Interaction, state: str = "here") -> None:
        await run(interaction, Moderate("logchannel", "off" if state == "off" else ""))

    @mod.command(name="review", description="Results in this channel wait for a moderator's approval")
    @app_commands.choices(state=ON_OFF)
    async def review(interaction: Interaction, state: str) -> None:
        await run(interaction, Moderate("review", state))

    _ = (status, block_add, block_remove, block_list, ban, unban, bans, channel_, roles_allow, roles_deny)
    _ = (roles_clear, strictness, output, nsfw, log, logchannel, review)
    return mod
