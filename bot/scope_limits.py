"""The limits in force in a scope: deployment defaults, overridden by the scope's admins."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Settings
from bot.messages import Scope, ScopeKind
from bot.parsing import whole_number
from bot.store.settings import ScopeSettingsStore


@dataclass(frozen=True)
class Limits:
    images_per_user: int
    images_per_scope: int
    rate_per_minute: int
    guild_rate_per_minute: int = 0  # image requests the whole server/group may make a minute; 0 = none


@dataclass(frozen=True)
class Knob:
    name: str
    description: str
    default_attr: str


KNOBS = {
    "user_quota": Knob("user_quota", "images per member per day", "quota_images_per_user_per_day"),
    "guild_quota": Knob("guild_quota", "images for the whole server/group per day", "quota_images_per_guild_per_day"),
    "rate": Knob("rate", "image requests per member per minute", "rate_limit_per_user_per_minute"),
    "guild_rate": Knob(
        "guild_rate", "image requests for the whole server/group per minute", "rate_limit_per_guild_per_minute"
    ),
}
# Knobs that are a rate: 0 means no per-minute limit (not "off").
RATES = ("rate", "guild_rate")
# Knobs that only mean something in a server/group.
GUILD_ONLY = ("guild_quota", "guild_rate")


@dataclass(frozen=True)
class Switch:
    """An on/off setting a scope's admins choose (`/settings chat_tools off`)."""

    name: str
    on: str  # what "on" means
    off: str
    default: bool


SWITCHES = {
    "chat_tools": Switch(
        "chat_tools",
        "the chat model may draw and edit images, counted like /imagine",
        "the chat model only answers in words",
        True,
    ),
    "thinking": Switch(
        "thinking",
        "the chat model thinks before every answer, as /think does; slower",
        "the chat model thinks only when asked with /think",
        False,
    ),
    "enhance": Switch(
        "enhance",
        "the chat model details every /imagine prompt first, as --enhance does",
        "prompts are used as written unless --enhance is given",
        False,
    ),
}
IMAGES_PER_PROMPT = "images_per_prompt"
ON_WORDS = ("on", "yes", "true", "1")
OFF_WORDS = ("off", "no", "false", "0")

# Admins may raise a limit up to this multiple of the operator's default; a private chat may only lower it.
GUILD_CEILING_FACTOR = 10


class ScopeLimits:
    def __init__(self, settings: Settings, store: ScopeSettingsStore) -> None:
        self._settings = settings
        self._store = store

    def default(self, knob: Knob) -> int:
        return int(getattr(self._settings, knob.default_attr))

    def ceiling(self, knob: Knob, scope: Scope) -> int:
        factor = GUILD_CEILING_FACTOR if scope.kind == ScopeKind.GUILD else 1
        return self.default(knob) * factor

    async def for_scope(self, scope: Scope) -> Limits:
        overrides = await self._store.all(scope.key)

        def value(name: str) -> int:
            knob = KNOBS[name]
            raw = overrides.get(name)
            number = whole_number(raw) if raw is not None else None
            return self.default(knob) if number is None else number

        guild_rate = value("guild_rate") if scope.kind == ScopeKind.GUILD else 0
        return Limits(value("user_quota"), value("guild_quota"), value("rate"), guild_rate)

    async def default_model(self, scope: Scope) -> str:
        overrides = await self._store.all(scope.key)
        return overrides.get("model") or self._settings.image_model

    async def images_per_prompt(self, scope: Scope) -> int:
        """How many images an /imagine without `--n` makes here (a grid past 1)."""
        raw = (await self._store.all(scope.key)).get(IMAGES_PER_PROMPT)
        number = whole_number(raw) if raw is not None else None
        return number or self._settings.images_per_prompt

    async def switch(self, scope: Scope, name: str) -> bool:
        """A switch's value here: the admins' choice, else its default."""
        raw = (await self._store.all(scope.key)).get(name)
        return SWITCHES[name].default if raw is None else raw == "on"

    async def persona(self, scope: Scope, channel: str) -> str | None:
        """The chat's system prompt an admin set for this channel, if any."""
        return (await self._store.all(scope.key)).get(persona_key(channel))


def persona_key(channel: str) -> str:
    """Where a channel's persona is kept among the scope's settings (`/settings persona`)."""
    return f"persona:{channel}"
