"""`/settings [name value | reset [name]]`: a scope's admins tune its quotas, rate limits and model."""

from __future__ import annotations

from bot.admission import describe_rate
from bot.command import ChangeSettings
from bot.messages import Reply, Request, Scope, ScopeKind
from bot.parsing import IMAGE_COUNTS, PERSONA, SETTINGS_USAGE, whole_number
from bot.providers.catalogue import Catalogue, UnknownModel
from bot.scope_limits import (
    GUILD_ONLY,
    IMAGES_PER_PROMPT,
    KNOBS,
    OFF_WORDS,
    ON_WORDS,
    RATES,
    SWITCHES,
    Knob,
    ScopeLimits,
    Switch,
    persona_key,
)
from bot.store.settings import ScopeSettingsStore

MAX_PERSONA_CHARS = 2000
NOT_ADMIN = "Only this server's admins can view or change Atelier's settings. Try /usage."
MODEL = "model"
RESET = "reset"
RATE = "rate"
MAX_RATE = 600  # image requests a minute, where the operator set no limit


class SettingsCommand:
    def __init__(
        self, scope_limits: ScopeLimits, stored: ScopeSettingsStore, catalogue: Catalogue, chat_rate: int = 0
    ) -> None:
        self._limits = scope_limits
        self._chat_rate = chat_rate
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
        elif name == PERSONA:
            await self._persona(request, change.value, reply)
        elif change.value is None:
            await reply.send_error(SETTINGS_USAGE)
        elif name == MODEL:
            await self._set_model(request, change.value, reply)
        elif name == IMAGES_PER_PROMPT:
            await self._set_images_per_prompt(request, change.value, reply)
        elif name in SWITCHES:
            await self._set_switch(request, SWITCHES[name], change.value, reply)
        else:
            await self._set_knob(request, name, change.value, reply)

    async def _reset(self, request: Request, target: str | None, reply: Reply) -> None:
        target = target.lower() if target else None
        if target == PERSONA:
            await self._persona(request, RESET, reply)
            return
        if target is not None and target not in (*KNOBS, *SWITCHES, MODEL, IMAGES_PER_PROMPT):
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

    async def _set_images_per_prompt(self, request: Request, value: str, reply: Reply) -> None:
        count = whole_number(value)
        if count not in IMAGE_COUNTS:
            await reply.send_error(f"{IMAGES_PER_PROMPT} takes 1, 2 or 4 (past 1, /imagine makes a grid).")
            return
        await self._stored.set(request.scope.key, IMAGES_PER_PROMPT, str(count))
        await reply.send_text(f"{IMAGES_PER_PROMPT} is now {count}: {_count_meaning(count)}")

    async def _persona(self, request: Request, text: str | None, reply: Reply) -> None:
        """The chat's system prompt for this channel (topic, or the whole private chat)."""
        key = persona_key(request.channel)
        if text is None:
            current = await self._limits.persona(request.scope, request.channel)
            await reply.send_text(
                f"Persona here: {current}"
                if current
                else "No persona here: the assistant uses its default prompt. "
                "Set one with `/settings persona <how it should behave>`."
            )
        elif text.lower() == RESET:
            await self._stored.clear(request.scope.key, key)
            await reply.send_text("Persona cleared: the assistant is back to its default prompt here.")
        elif len(text) > MAX_PERSONA_CHARS:
            await reply.send_error(f"That persona is {len(text):,} characters; keep it under {MAX_PERSONA_CHARS:,}.")
        else:
            await self._stored.set(request.scope.key, key, text)
            await reply.send_text("Persona set for this channel: new messages here follow it.")

    async def _set_switch(self, request: Request, switch: Switch, value: str, reply: Reply) -> None:
        word = value.strip().lower()
        if word not in ON_WORDS + OFF_WORDS:
            await reply.send_error(f"{switch.name} takes on ({switch.on}) or off ({switch.off}).")
            return
        state = "on" if word in ON_WORDS else "off"
        await self._stored.set(request.scope.key, switch.name, state)
        await reply.send_text(f"{switch.name} is now {state} ({_switch_meaning(switch, state == 'on')}).")

    async def _set_knob(self, request: Request, name: str, value: str, reply: Reply) -> None:
        knob = KNOBS.get(name)
        if knob is None:
            await reply.send_error(f"No setting called '{name}'. {SETTINGS_USAGE}")
            return
        if knob.name in GUILD_ONLY and request.scope.kind != ScopeKind.GUILD:
            await reply.send_error(f"{knob.name} only applies in a server/group, not in a private chat.")
            return
        low, high = self._range(knob, request.scope)
        number = whole_number(value)
        if number is None or not low <= number <= high:
            await reply.send_error(f"{name} takes a whole number from {low} to {high} ({_values(knob, low)}).")
            return
        await self._stored.set(request.scope.key, name, str(number))
        await reply.send_text(f"{name} is now {number} ({_meaning(knob, number)}).")

    def _range(self, knob: Knob, scope: Scope) -> tuple[int, int]:
        """A quota of 0 turns images off, so it is always allowed. A rate of 0 means no limit at all, past any
        ceiling: only the operator may choose it; where the operator did, admins may set any limit."""
        if knob.name not in RATES:
            return 0, self._limits.ceiling(knob, scope)
        if self._limits.default(knob) == 0:
            return 0, MAX_RATE
        return 1, self._limits.ceiling(knob, scope)

    async def _describe(self, request: Request) -> str:
        limits = await self._limits.for_scope(request.scope)
        model = await self._limits.default_model(request.scope)
        count = await self._limits.images_per_prompt(request.scope)
        lines = [
            "Settings here:",
            f"user_quota = {limits.images_per_user} ({_meaning(KNOBS['user_quota'], limits.images_per_user)})",
            f"rate = {limits.rate_per_minute} ({_meaning(KNOBS[RATE], limits.rate_per_minute)})",
            f"model = {model}",
            f"{IMAGES_PER_PROMPT} = {count} ({_count_meaning(count)})",
            f"chat limit: {describe_rate(self._chat_rate, 'messages per member')} (set by the operator)",
        ]
        if request.scope.kind == ScopeKind.GUILD:
            pool, pooled_rate = limits.images_per_scope, limits.guild_rate_per_minute
            lines.insert(2, f"guild_quota = {pool} ({_meaning(KNOBS['guild_quota'], pool)})")
            lines.insert(4, f"guild_rate = {pooled_rate} ({_meaning(KNOBS['guild_rate'], pooled_rate)})")
        persona = await self._limits.persona(request.scope, request.channel)
        shown = (persona if len(persona) <= 80 else persona[:79] + "…") if persona else "default (none set here)"
        lines.append(f"persona in this channel = {shown}")
        for switch in SWITCHES.values():
            on = await self._limits.switch(request.scope, switch.name)
            lines.append(f"{switch.name} = {'on' if on else 'off'} ({_switch_meaning(switch, on)})")
        return "\n".join(lines) + "\n" + SETTINGS_USAGE


def _count_meaning(count: int) -> str:
    if count == 1:
        return "one image per /imagine unless --n asks for more"
    return f"/imagine makes {count} images in a grid (each charged) unless --n says otherwise"


def _switch_meaning(switch: Switch, on: bool) -> str:
    return switch.on if on else switch.off


def _meaning(knob: Knob, value: int) -> str:
    """What a knob's value does here."""
    if value != 0:
        return knob.description
    if knob.name in RATES:
        return "off: no per-minute limit"
    return "image generation is turned off here" if knob.name == "user_quota" else "images are off for everyone here"


def _values(knob: Knob, low: int) -> str:
    """What a knob's values do, 0 included, for the message that refuses a value."""
    if knob.name not in RATES:
        return f"{knob.description}; 0 turns images off"
    if low == 0:
        return f"{knob.description}; 0 = no limit"
    return f"{knob.description}; no limit at all is the operator's choice"
