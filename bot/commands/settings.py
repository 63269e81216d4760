"""`/settings [name value | reset [name]]`: a scope's admins tune its quotas, rate limit and model."""

from __future__ import annotations

from bot.command import ChangeSettings
from bot.messages import Reply, Request, ScopeKind
from bot.parsing import SETTINGS_USAGE
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.scope_limits import KNOBS, ScopeLimits
from bot.store.settings import ScopeSettingsStore

NOT_ADMIN = "Only this server's admins can view or change Atelier's settings. Try /usage."
MODEL = "model"
RESET = "reset"


class SettingsCommand:
    def __init__(self, scope_limits: ScopeLimits, stored: ScopeSettingsStore, catalogue: Catalogue) -> None:
        self._limits = scope_limits
        self._stored = stored
        self._catalogue = catalogue

    async def run(self, request: Request, change: ChangeSettings, reply: Reply) -> None:
        if not request.is_admin:
            await reply.send_error(NOT_ADMIN)
            return
        name = (change.setting or "").lower()
        if not name:
            await reply.send_text(await self._describe(request))
        elif name == RESET:
            await self._reset(request, change.value, reply)
        elif change.value is None:
            await reply.send_error(SETTINGS_USAGE)
        elif name == MODEL:
            await self._set_model(request, change.value, reply)
        else:
            await self._set_knob(request, name, change.value, reply)

    async def _reset(self, request: Request, target: str | None, reply: Reply) -> None:
        target = target.lower() if target else None
        if target is not None and target not in (*KNOBS, MODEL):
            await reply.send_error(f"No setting called '{target}'. {SETTINGS_USAGE}")
            return
        await self._stored.clear(request.scope.key, target)
        await reply.send_text(f"Reset {target or 'all settings'} to the defaults.\n" + await self._describe(request))

    async def _set_model(self, request: Request, value: str, reply: Reply) -> None:
        try:
            _, model = self._catalogue.resolve_image_model(value)
        except UnknownModel as exc:
            await reply.send_error(str(exc))
            return
        await self._stored.set(request.scope.key, MODEL, model.qualified)
        await reply.send_text(f"Default image model here is now {model.qualified}.")

    async def _set_knob(self, request: Request, name: str, value: str, reply: Reply) -> None:
        knob = KNOBS.get(name)
        if knob is None:
            await reply.send_error(f"No setting called '{name}'. {SETTINGS_USAGE}")
            return
        if knob.name == "guild_quota" and request.scope.kind != ScopeKind.GUILD:
            await reply.send_error("guild_quota only applies in a server/group, not in a private chat.")
            return
        ceiling = self._limits.ceiling(knob, request.scope)
        if not value.isdigit() or int(value) > ceiling:
            await reply.send_error(f"{name} takes a whole number from 0 to {ceiling} ({knob.description}).")
            return
        await self._stored.set(request.scope.key, name, str(int(value)))
        await reply.send_text(f"{name} is now {int(value)} ({knob.description}).")

    async def _describe(self, request: Request) -> str:
        limits = await self._limits.for_scope(request.scope)
        model = await self._limits.default_model(request.scope)
        lines = [
            "Settings here:",
            f"user_quota = {limits.images_per_user} (images per member per day)",
            f"rate = {limits.rate_per_minute} (requests per member per minute)",
            f"model = {model}",
        ]
        if request.scope.kind == ScopeKind.GUILD:
            lines.insert(2, f"guild_quota = {limits.images_per_scope} (images for everyone here per day)")
        return "\n".join(lines) + "\n" + SETTINGS_USAGE
