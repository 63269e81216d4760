"""The `/mod` subcommands that set where and how the bot works in a scope: channel rules, Discord role
lists, strictness, flagged output, age-restricted channels, the audit log, the moderators' channel and the
review queue. (bot.commands.moderation checks the asker is an admin and dispatches here.)"""

from __future__ import annotations

from bot.clock import Clock
from bot.command import Moderate
from bot.commands.moderation_words import ModUsage, entry_line, fit, record_action, this_channel
from bot.config import Settings
from bot.messages import Reply, Request, ScopeKind
from bot.moderation.policy import LOGCHANNEL, NSFW, OUTPUT, STRICTNESS
from bot.parsing import whole_number
from bot.store import Store
from bot.store.moderation import DEFAULT_CHANNEL, ChannelMode, RoleList

MODES = {
    ChannelMode.ALL: "images and chat",
    ChannelMode.IMAGES: "images only",
    ChannelMode.CHAT: "chat only",
    ChannelMode.OFF: "nothing (the bot is off)",
}
CHANNEL_USAGE = (
    "Usage: /mod channel images|chat|all|off (this channel), /mod channel default images|chat|all|off "
    "(every channel without its own rule), /mod channel reset (this channel follows the default again)."
)
ROLES_DISCORD_ONLY = "Role lists are a Discord feature."
NO_LOGCHANNEL = "Set /mod logchannel in your moderators' channel first: held results wait there for a moderator."
NO_REVIEW_HERE = "The review queue is for servers and groups: here nobody else would approve your results."
LOG_DEFAULT, LOG_MAX = 10, 50
OUTPUT_WORDS = {"withhold": "withheld (not posted; moderators see them)", "spoiler": "posted behind a spoiler"}


def output_words(mode: str) -> str:
    return OUTPUT_WORDS.get(mode, mode)


class ScopeRules:
    def __init__(self, settings: Settings, store: Store, wall: Clock) -> None:
        self._settings = settings
        self._chosen = store.settings
        self._mod = store.moderation
        self._wall = wall

    async def _audit(self, request: Request, action: str, **detail: object) -> None:
        await record_action(self._mod, self._wall, request, action, **detail)

    async def channel(self, request: Request, command: Moderate, reply: Reply) -> None:
        words = command.argument.lower().split()
        if words == ["reset"]:
            await self._mod.set_channel(request.scope.key, request.channel, None)
            await self._audit(request, "channel reset", channel=request.channel)
            await reply.send_text(f"{this_channel(request).capitalize()} follows the default rule again.")
            return
        default = bool(words) and words[0] == "default"
        mode = _mode(words[1:] if default else words)
        channel = DEFAULT_CHANNEL if default else request.channel
        await self._mod.set_channel(request.scope.key, channel, mode)
        await self._audit(request, "channel default" if default else "channel", channel=channel, mode=str(mode))
        where = "Channels without their own rule allow" if default else f"{this_channel(request).capitalize()} allows"
        await reply.send_text(f"{where} {MODES[mode]}." + (" (/mod still works.)" if mode is ChannelMode.OFF else ""))

    async def role(self, request: Request, command: Moderate, reply: Reply) -> None:
        self._discord_only(request)
        listing = RoleList.ALLOW if command.subcommand == "roles allow" else RoleList.DENY
        if not command.role:
            raise ModUsage(f"Name the role: /mod roles {listing} @Role (a role mention or its id).")
        await self._mod.set_role(request.scope.key, command.role, listing)
        await self._audit(request, f"roles {listing}", subject=command.role)
        if listing is RoleList.ALLOW:
            text = f"<@&{command.role}> is allowed: only members with an allowed role can use the bot here."
        else:
            text = f"Members with <@&{command.role}> can no longer use the bot here."
        await reply.send_text(text)

    async def roles_clear(self, request: Request, _command: Moderate, reply: Reply) -> None:
        self._discord_only(request)
        await self._mod.clear_roles(request.scope.key)
        await self._audit(request, "roles clear")
        await reply.send_text("Role lists cleared: every member may use the bot here (bans still apply).")

    @staticmethod
    def _discord_only(request: Request) -> None:
        if request.scope.platform != "discord":
            raise ModUsage(ROLES_DISCORD_ONLY)

    async def strictness(self, request: Request, command: Moderate, reply: Reply) -> None:
        level = _choice(command.argument, ("low", "medium", "high"), "strictness")
        await self._chosen.set(request.scope.key, STRICTNESS, level)
        await self._audit(request, "strictness", mode=level)
        note = (
            ""
            if self._settings.moderation_api_url
            else (
                " It only matters with a moderation model, and none is configured on this bot:"
                " only blocked terms are checked."
            )
        )
        await reply.send_text(f"Strictness here is now {level}.{note}")

    async def output(self, request: Request, command: Moderate, reply: Reply) -> None:
        mode = _choice(command.argument, ("withhold", "spoiler"), "output")
        await self._chosen.set(request.scope.key, OUTPUT, mode)
        await self._audit(request, "output", mode=mode)
        await reply.send_text(f"Flagged results here are now {output_words(mode)}.")

    async def nsfw(self, request: Request, command: Moderate, reply: Reply) -> None:
        on = _choice(command.argument, ("on", "off"), "nsfw") == "on"
        if on:
            await self._chosen.set(request.scope.key, NSFW, "on")
        else:
            await self._chosen.clear(request.scope.key, NSFW)
        await self._audit(request, "nsfw", mode="on" if on else "off")
        if on:
            text = "Discord age-restricted channels here may now show sexual content; everywhere else it is withheld."
        else:
            text = "Sexual content is withheld in every channel here, age-restricted ones too."
        await reply.send_text(text)

    async def log(self, request: Request, command: Moderate, reply: Reply) -> None:
        argument = command.argument.strip()
        count = whole_number(argument) if argument else LOG_DEFAULT
        if count is None or not 1 <= count <= LOG_MAX:
            raise ModUsage(f"Usage: /mod log [N], N from 1 to {LOG_MAX} (default {LOG_DEFAULT}).")
        entries = await self._mod.recent(request.scope.key, count)
        if not entries:
            await reply.send_text("The moderation log here is empty.")
            return
        await reply.send_text(fit(f"Last {len(entries)} log entries (newest first):", [entry_line(e) for e in entries]))

    async def logchannel(self, request: Request, command: Moderate, reply: Reply) -> None:
        word = command.argument.strip().lower()
        if word == "off":
            await self._chosen.clear(request.scope.key, LOGCHANNEL)
            await self._audit(request, "logchannel off")
            reviewed = (await self._mod.policy(request.scope.key)).reviewed_channels
            note = (
                f" The review queue is still on in {len(reviewed)} channel(s): /mod review off there."
                if reviewed
                else ""
            )
            await reply.send_text("Flagged and refused items are no longer posted for moderators." + note)
            return
        if word:
            raise ModUsage("Usage: /mod logchannel (in your moderators' channel), or /mod logchannel off.")
        if request.origin is None:
            raise ModUsage("/mod logchannel cannot be used here.")
        await self._chosen.set(request.scope.key, LOGCHANNEL, request.origin)
        await self._audit(request, "logchannel", channel=request.channel)
        await reply.send_text(
            "This is now the moderators' channel: flagged and refused items, and results waiting for review, "
            "are posted here for moderators to act on."
        )

    async def review(self, request: Request, command: Moderate, reply: Reply) -> None:
        on = _choice(command.argument, ("on", "off"), "review") == "on"
        if on and request.scope.kind is not ScopeKind.GUILD:
            raise ModUsage(NO_REVIEW_HERE)
        if on and not (await self._chosen.all(request.scope.key)).get(LOGCHANNEL):
            raise ModUsage(NO_LOGCHANNEL)
        await self._mod.set_review(request.scope.key, request.channel, on)
        await self._audit(request, "review", channel=request.channel, mode="on" if on else "off")
        if on:
            text = (
                f"Review is on in {this_channel(request)}: each result waits in the moderators' channel and is "
                "posted where it was asked for once a moderator approves it."
            )
        else:
            text = f"Review is off in {this_channel(request)}: results are posted at once."
        await reply.send_text(text)


def _mode(words: list[str]) -> ChannelMode:
    if len(words) != 1:
        raise ModUsage(CHANNEL_USAGE)
    try:
        return ChannelMode(words[0])
    except ValueError:
        raise ModUsage(CHANNEL_USAGE) from None


def _choice(argument: str, choices: tuple[str, ...], name: str) -> str:
    word = argument.strip().lower()
    if word not in choices:
        raise ModUsage(f"Usage: /mod {name} {'|'.join(choices)}.")
    return word
