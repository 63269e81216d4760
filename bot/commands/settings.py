"""`/settings [name value | reset [name]]`: a scope's admins tune its quotas, rate limit and model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.messages import Reply, Request, ScopeKind
from bot.providers.catalogue import UnknownModel
from bot.scope_limits import KNOBS

if TYPE_CHECKING:
    from bot.core import Atelier

USAGE = (
    "Usage: `/settings` shows them; `/settings user_quota 10`, `/settings guild_quota 100`, "
    "`/settings rate 3`, `/settings model NAME`; `/settings reset` (or `/settings reset rate`) goes back to defaults."
)


async def settings(core: Atelier, request: Request, args: str, reply: Reply) -> None:
    if not request.is_admin:
        await reply.send_error("Only this server's admins can view or change Atelier's settings. Try /usage.")
        return
    words = args.split()
    if not words:
        await reply.send_text(await _describe(core, request))
        return
    name = words[0].lower()
    if name == "reset":
        target = words[1].lower() if len(words) > 1 else None
        if target is not None and target not in (*KNOBS, "model"):
            await reply.send_error(f"No setting called '{target}'. {USAGE}")
            return
        await core.store.settings.clear(request.scope.key, target)
        await reply.send_text(f"Reset {target or 'all settings'} to the defaults.\n" + await _describe(core, request))
        return
    if len(words) != 2:
        await reply.send_error(USAGE)
        return
    value = words[1]
    if name == "model":
        try:
            _, model = core.catalogue.resolve_image_model(value)
        except UnknownModel as exc:
            await reply.send_error(str(exc))
            return
        await core.store.settings.set(request.scope.key, "model", model.qualified)
        await reply.send_text(f"Default image model here is now {model.qualified}.")
        return
    knob = KNOBS.get(name)
    if knob is None:
        await reply.send_error(f"No setting called '{name}'. {USAGE}")
        return
    if knob.name == "guild_quota" and request.scope.kind != ScopeKind.GUILD:
        await reply.send_error("guild_quota only applies in a server or group.")
        return
    ceiling = core.scope_limits.ceiling(knob, request.scope)
    if not value.isdigit() or int(value) > ceiling:
        await reply.send_error(f"{name} takes a whole number from 0 to {ceiling} ({knob.description}).")
        return
    await core.store.settings.set(request.scope.key, name, str(int(value)))
    await reply.send_text(f"{name} is now {int(value)} ({knob.description}).")


async def _describe(core: Atelier, request: Request) -> str:
    limits = await core.scope_limits.for_scope(request.scope)
    model = await core.scope_limits.default_model(request.scope)
    lines = [
        "Settings here:",
        f"user_quota = {limits.images_per_user} (images per member per day)",
        f"rate = {limits.rate_per_minute} (requests per member per minute)",
        f"model = {model}",
    ]
    if request.scope.kind == ScopeKind.GUILD:
        lines.insert(2, f"guild_quota = {limits.images_per_scope} (images for everyone here per day)")
    return "\n".join(lines) + "\n" + USAGE
