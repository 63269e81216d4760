"""Scopes from room state, as the sync keeps it (nio updates each room's members and power levels from
every sync, so a changed power level applies at once): a room is a scope, shared; a room of just the
bot and one person is that person's DM, their own scope. A room's admins have power level 50 or more."""

from __future__ import annotations

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


def is_admin(room: MatrixRoom, sender: str) -> bool:
    """Your own DM is yours to set; in a room, power level 50 or more (read from its state)."""
    return is_private(room) or room.power_levels.get_user_level(sender) >= ADMIN_LEVEL
