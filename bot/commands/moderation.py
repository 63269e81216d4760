"""`/mod ...`: a scope's admins set its moderation: blocked terms, bans, channel rules, role lists,
strictness, flagged-output handling, the audit log, the moderators' channel and the review queue.
Every change is recorded in the audit log (a MOD_ACTION entry naming the moderator)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.clock import Clock
from bot.command import Moderate
from bot.commands.moderation_rules import MODES, ScopeRules, output_words
from bot.commands.moderation_words import (
    ModUsage,
    ban_line,
    describe_duration,
    duration_seconds,
    fit,
    member_of,
    record_action,
    this_channel,
    trim,
)
from bot.config import Settings
from bot.lease import WALL
from bot.messages import Reply, Request, ScopeKind
from bot.moderation.policy import LOGCHANNEL, NSFW, OUTPUT, STRICTNESS
from bot.moderation.text import BadTerm, check_term
from bot.parsing import MOD_USAGE
from bot.store import Store
from bot.store.moderation import DEFAULT_CHANNEL, Ban, ChannelMode, ScopePolicy

NOT_ADMIN = "Only this server's admins can use /mod."
MAX_TERMS = 1000  # a scope's own list
MAX_TERM_CHARS = 200
BAN_USAGE = "Usage: /mod ban @member [30m|2h|7d|2w] [reason] (a mention or a user id); no duration: until /mod unban."
_Handler = Callable[[Request, Moderate, Reply], Awaitable[None]]


class ModCommand:
    def __init__(self, settings: Settings, store: Store, *, wall: Clock = WALL) -> None:
        self._settings = settings
        self._store = store
        self._mod = store.moderation
        self._wall = wall  # wall-clock time: ban expiry and audit entries
        rules = ScopeRules(settings, store, wall)
        self._handlers: dict[str, _Handler] = {
            "": self._summary,
            "block add": self._block_add,
            "block remove": self._block_remove,
            "block list": self._block_list,
            "ban": self._ban,
            "unban": self._unban,
            "bans": self._bans,
            "channel": rules.channel,
            "roles allow": rules.role,
            "roles deny": rules.role,
            "roles clear": rules.roles_clear,
            "strictness": rules.strictness,
            "output": rules.output,
            "nsfw": rules.nsfw,
            "log": rules.log,
            "logchannel": rules.logchannel,
            "review": rules.review,
        }

    async def run(self, request: Request, command: Moderate, reply: Reply) -> None:
        if not request.is_admin:
            await reply.send_error(NOT_ADMIN)
            return
        handler = self._handlers.get(command.subcommand)
        if handler is None:
            await reply.send_error(MOD_USAGE)
            return
        try:
            await handler(request, command, reply)
        except ModUsage as exc:
            await reply.send_error(str(exc))

    async def _audit(self, request: Request, action: str, **detail: object) -> None:
        await record_action(self._mod, self._wall, request, action, **detail)

    # The summary.
    async def _summary(self, request: Request, _command: Moderate, reply: Reply) -> None:
        """Rules about members and channels are left out of a private scope (the console, a DM): it has none."""
        scope = request.scope.key
        policy = await self._mod.policy(scope)
        chosen = await self._store.settings.all(scope)
        shared = request.scope.kind is ScopeKind.GUILD
        lines = ["Moderation here:"]
        if shared:
            lines.append(self._channels_line(policy, request))
            if request.scope.platform == "discord":
                lines.append(_roles_line(policy))
            lines.append(f"Banned: {len(await self._mod.bans(scope, self._wall.now()))} (/mod bans)")
        operator = ", plus the operator's list" if self._settings.moderation_blocklist.strip() else ""
        lines += [
            f"Blocked terms: {len(policy.terms)} here{operator} (/mod block list)",
            self._strictness_line(chosen.get(STRICTNESS)),
            "Flagged results: " + output_words(chosen.get(OUTPUT, self._settings.moderation_output)),
        ]
        if request.scope.platform == "discord":
            nsfw = "may show sexual content" if chosen.get(NSFW) == "on" else "same rules as elsewhere"
            lines.append(f"Age-restricted channels: {nsfw}")
        where = "set" if chosen.get(LOGCHANNEL) else "not set (use /mod logchannel in your moderators' channel)"
        lines.append(f"Moderators' channel: {where}")
        if shared:
            reviewed = policy.reviewed_channels
            here = "on in this channel" if request.channel in reviewed else "off here"
            lines.append(f"Review queue: {here}" + (f" (on in {len(reviewed)} channel(s) in all)" if reviewed else ""))
        await reply.send_text("\n".join(lines))

    def _channels_line(self, policy: ScopePolicy, request: Request) -> str:
        default = policy.channels.get(DEFAULT_CHANNEL, ChannelMode.ALL)
        own = policy.channels.get(request.channel)
        here = this_channel(request)
        rule = f"{here} allows {MODES[own]}" if own else f"{here} follows the default"
        others = len([name for name in policy.channels if name not in (DEFAULT_CHANNEL, request.channel)])
        extra = f"; {others} other channel(s) have their own rule" if others else ""
        return f"Channels: {rule}; the default allows {MODES[default]}{extra}"

    def _strictness_line(self, chosen: str | None) -> str:
        level = chosen or self._settings.moderation_strictness
        model = (
            "a moderation model checks prompts and results"
            if self._settings.moderation_api_url
            else ("no moderation model is configured: only blocked terms are checked")
        )
        return f"Strictness: {level} ({model})"

    # Blocked terms.
    async def _block_add(self, request: Request, command: Moderate, reply: Reply) -> None:
        term = self._term(command.argument, "add")
        if len((await self._mod.policy(request.scope.key)).terms) >= MAX_TERMS:
            raise ModUsage(f"This server already blocks {MAX_TERMS} terms, the most it may: remove some first.")
        if not await self._mod.add_term(request.scope.key, term):
            await reply.send_text(f'"{term}" was already blocked here.')
            return
        await self._audit(request, "block add", subject=term)
        await reply.send_text(f'Blocked "{term}": prompts, edits, chat and /ask containing it are refused here.')

    async def _block_remove(self, request: Request, command: Moderate, reply: Reply) -> None:
        term = command.argument.strip()
        if not term:
            raise ModUsage("Usage: /mod block remove <term>, as /mod block list shows it.")
        if not await self._mod.remove_term(request.scope.key, term):
            raise ModUsage(f'"{trim(term, 60)}" is not on this server\'s list. /mod block list shows it.')
        await self._audit(request, "block remove", subject=term)
        await reply.send_text(f'"{term}" is no longer blocked here.')

    async def _block_list(self, request: Request, _command: Moderate, reply: Reply) -> None:
        terms = (await self._mod.policy(request.scope.key)).terms
        operator = " The operator's own list applies too." if self._settings.moderation_blocklist.strip() else ""
        if not terms:
            await reply.send_text(f"This server blocks no terms of its own.{operator}")
            return
        head = f"Blocked here ({len(terms)}):{operator}"
        await reply.send_text(fit(head, [trim(term) for term in terms]))

    def _term(self, argument: str, verb: str) -> str:
        if not argument.strip():
            raise ModUsage(f"Usage: /mod block {verb} <term> (re:<regex> for a pattern).")
        if len(argument.strip()) > MAX_TERM_CHARS:
            raise ModUsage(f"A term is at most {MAX_TERM_CHARS} characters.")
        try:
            return check_term(argument)
        except BadTerm as exc:
            raise ModUsage(str(exc)) from None

    # Bans.
    async def _ban(self, request: Request, command: Moderate, reply: Reply) -> None:
        words = command.argument.split()
        member = member_of(words[0] if words else "", command.target, request.scope.platform)
        if member is None:
            raise ModUsage(BAN_USAGE)
        if command.target is None:
            words = words[1:]
        if member.key == request.user.key:
            raise ModUsage("You cannot ban yourself.")
        seconds = duration_seconds(words[0]) if words else None
        length = describe_duration(words.pop(0)) if seconds is not None else None
        reason = " ".join(words)[:200]
        until = self._wall.now() + seconds if seconds is not None else None
        ban = Ban(member.key, member.name, until, reason, request.user.name)
        await self._mod.ban(request.scope.key, ban, at=self._wall.now())
        await self._audit(request, "ban", subject=member.key, until=until, reason=reason)
        how_long = f"for {length}" if length else "until /mod unban"
        because = f" Reason: {reason}" if reason else ""
        await reply.send_text(f"{member.name} is banned from the bot here {how_long}.{because}")

    async def _unban(self, request: Request, command: Moderate, reply: Reply) -> None:
        words = command.argument.split()
        member = member_of(words[0] if words else "", command.target, request.scope.platform)
        if member is None:
            raise ModUsage("Usage: /mod unban @member (a mention or a user id, as /mod bans shows it).")
        if not await self._mod.unban(request.scope.key, member.key):
            await reply.send_text(f"{member.name} was not banned here.")
            return
        await self._audit(request, "unban", subject=member.key)
        await reply.send_text(f"{member.name} may use the bot here again.")

    async def _bans(self, request: Request, _command: Moderate, reply: Reply) -> None:
        bans = await self._mod.bans(request.scope.key, self._wall.now())
        if not bans:
            await reply.send_text("Nobody is banned here.")
            return
        await reply.send_text(fit(f"Banned here ({len(bans)}):", [ban_line(ban) for ban in bans]))


def _roles_line(policy: ScopePolicy) -> str:
    allowed = ", ".join(f"<@&{role}>" for role in sorted(policy.allowed_roles)) or "any"
    denied = ", ".join(f"<@&{role}>" for role in sorted(policy.denied_roles)) or "none"
    return f"Roles: allowed {allowed}; denied {denied}"
