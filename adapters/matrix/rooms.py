"""Scopes from room state, as the sync keeps it (nio updates each room's members and power levels from
every sync, so a changed power level applies at once): a room is a scope, shared; a room of just the
bot and one person is that person's DM, their own scope. A room's admins have power level 50 or more, or
created it in room version 12 or later (where creators outrank every power level and power_levels no
longer lists them)."""

from __future__ import annotations

from typing import Any

from nio import MatrixRoom

from adapters.matrix.events import PLATFORM
from bot.messages import Scope, ScopeKind, User

ADMIN_LEVEL = 50  # Element's "Moderator": what a room's settings and moderation need


def is_private(room: MatrixRoom) -> bool:
    return room.member_count <= 2


def scope_of(room: MatrixRoom, sender: str) -> Scope:
    if is_private(room):
        return Scope(PLATFORM, ScopeKind.PRIVATE, sender)
    return Scope(PLATFORM, ScopeKind.GUILD, room.room_id)


def user_of(room: MatrixRoom, sender: str) -> User:
    return User(PLATFORM, sender, room.user_name(sender) or sender)


class Creators:
    """Each room's creators, from its m.room.create event as a sync shows it (nio keeps no creator)."""

    def __init__(self) -> None:
        self._by_room: dict[str, frozenset[str]] = {}

    def note(self, room_id: str, event: dict[str, Any]) -> None:
        if event.get("type") != "m.room.create" or event.get("state_key") != "":
            return
        more = event.get("content", {}).get("additional_creators")
        extra = [user for user in more if isinstance(user, str)] if isinstance(more, list) else []
        self._by_room[room_id] = frozenset([str(event.get("sender")), *extra])

    def of(self, room_id: str) -> frozenset[str]:
        return self._by_room.get(room_id, frozenset())


def creators_privileged(version: str) -> bool:
    """Room version 12 (MSC4289) and its unstable forerunner give creators every power."""
    return (version.isdigit() and int(version) >= 12) or "hydra" in version


def is_admin(room: MatrixRoom, sender: str, creators: Creators) -> bool:
    """Your own DM is yours to set; in a room, power level 50 or more (read from its state), or its creator
    where the room version makes creators outrank everyone."""
    if is_private(room) or room.power_levels.get_user_level(sender) >= ADMIN_LEVEL:
        return True
    return creators_privileged(room.room_version) and sender in creators.of(room.room_id)
