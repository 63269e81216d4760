"""The guild world: users, guilds, roles, members, channels and DMs, Discord's permission maths, and the
REST reads of them (users, applications, guilds, members, channels)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .models import (
    _INTENT_APP_FLAGS,
    ALL_PERMISSIONS,
    EVERYONE_PERMISSIONS,
    THREAD_TYPES,
    ApiError,
    Permission,
    RecordedRequest,
    _now_iso,
)
from .state import DiscordState


class WorldMixin(DiscordState):
    """Set up the world (``add_*``), compute permissions and serve the read-only REST routes."""

    _dm_by_user: dict[int, int]  # user id -> DM channel id

    def add_user(
        self,
        username: str,
        *,
        user_id: int | None = None,
        bot: bool = False,
        global_name: str | None = None,
        discriminator: str = "0",
        **extra: Any,
    ) -> dict[str, Any]:
        uid = user_id or self.snowflake()
        user = {
            "id": str(uid),
            "username": username,
            "discriminator": discriminator,
            "global_name": global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
            "collectibles": None,
            "clan": None,
        }
        if bot:
            user["bot"] = True
        user.update(extra)
        self.users[uid] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        guild_id: int | None = None,
        owner: dict[str, Any] | None = None,
        channels: Sequence[str] = ("general",),
    ) -> int:
        gid = guild_id or self.snowflake()
        owner = owner or self.add_user(f"{name.lower().replace(' ', '_')}_owner")
        self.guilds[gid] = {
            "id": str(gid),
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": owner["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "nsfw": False,
            "nsfw_level": 0,
            "region": "deprecated",
            "hub_type": None,
            "incidents_data": None,
            "latest_onboarding_question_id": None,
            "home_header": None,
            "inventory_settings": None,
            "profile": None,
        }
        self.roles[gid] = {}
        self.members[gid] = {}
        everyone = self.add_role(gid, "@everyone", EVERYONE_PERMISSIONS, role_id=gid)
        everyone["position"] = 0
        bot_role = self.add_role(
            gid,
            self.bot_user["username"],
            self.bot_permissions,
            managed=True,
            tags={"bot_id": self.bot_user["id"]},
        )
        self.add_member(gid, owner)
        self.add_member(gid, self.bot_user, roles=[int(bot_role["id"])])
        for channel_name in channels:
            channel = self.add_channel(gid, channel_name)
            self.guilds[gid]["system_channel_id"] = self.guilds[gid]["system_channel_id"] or channel["id"]
        return gid

    def add_role(
        self,
        guild_id: int,
        name: str,
        permissions: int = 0,
        *,
        role_id: int | None = None,
        color: int = 0,
        managed: bool = False,
        tags: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        rid = role_id or self.snowflake()
        role = {
            "id": str(rid),
            "name": name,
            "description": None,
            "color": color,
            "colors": {"primary_color": color, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": len(self.roles[guild_id]),
            "permissions": str(int(permissions)),
            "managed": managed,
            "mentionable": False,
            "flags": 0,
        }
        if tags is not None:
            role["tags"] = tags
        self.roles[guild_id][rid] = role
        return role

    def add_member(
        self, guild_id: int, user: dict[str, Any], *, roles: Sequence[int] = (), nick: str | None = None
    ) -> dict[str, Any]:
        self.users.setdefault(int(user["id"]), user)
        member = {
            "nick": nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in roles],
            "joined_at": _now_iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "avatar_decoration_data": None,
            "unusual_dm_activity_until": None,
        }
        self.members[guild_id][int(user["id"])] = member
        return member

    def add_channel(
        self,
        guild_id: int,
        name: str,
        *,
        type: int = 0,
        parent_id: int | None = None,
        permission_overwrites: Sequence[dict[str, Any]] = (),
        channel_id: int | None = None,
        nsfw: bool = False,
    ) -> dict[str, Any]:
        """A guild channel; ``nsfw`` makes it age-restricted (its threads are too, through the parent)."""
        cid = channel_id or self.snowflake()
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == str(guild_id))
        channel = {
            "id": str(cid),
            "type": type,
            "guild_id": str(guild_id),
            "name": name,
            "position": position,
            "permission_overwrites": list(permission_overwrites),
            "parent_id": None if parent_id is None else str(parent_id),
            "nsfw": nsfw,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
            "icon_emoji": None,
            "theme_color": None,
        }
        if type in (2, 13):
            channel.update(bitrate=64000, user_limit=0, rtc_region=None)
        self.channels[cid] = channel
        return channel

    def add_thread(self, parent_id: int, name: str, *, type: int = 11, owner_id: int | None = None) -> dict[str, Any]:
        """A thread as set up before the bot connects (GUILD_CREATE lists it); it has no nsfw flag of its
        own, as on Discord: age restriction is its parent's."""
        parent = self.channels[parent_id]
        tid = self.snowflake()
        now = _now_iso()
        thread: dict[str, Any] = {
            "id": str(tid),
            "type": type,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": str(owner_id or self.user["id"]),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 4320,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
            },
        }
        self.channels[tid] = thread
        return thread

    def text_channels(self, guild_id: int) -> list[int]:
        return [int(c["id"]) for c in self.channels.values() if c.get("guild_id") == str(guild_id) and c["type"] == 0]

    def dm_channel(self, user: dict[str, Any]) -> dict[str, Any]:
        uid = int(user["id"])
        if uid not in self._dm_by_user:
            cid = self.snowflake()
            self.channels[cid] = {
                "id": str(cid),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.users.get(uid, user)],
            }
            self._dm_by_user[uid] = cid
        return self.channels[self._dm_by_user[uid]]

    def permissions_for(self, user_id: int, channel_id: int) -> int:
        """Effective permissions (roles + overwrites) the way Discord computes them."""
        channel = self.channels[channel_id]
        if "guild_id" not in channel:  # DMs
            return int(EVERYONE_PERMISSIONS & ~Permission.CREATE_INSTANT_INVITE)
        gid = int(channel["guild_id"])
        member = self.members[gid].get(user_id)
        if member is None:
            return 0
        perms = self.guild_permissions(user_id, gid)
        if perms == ALL_PERMISSIONS:
            return perms
        if channel["type"] in THREAD_TYPES:
            channel = self.channels[int(channel["parent_id"])]
        overwrites = {ow["id"]: ow for ow in channel.get("permission_overwrites", [])}
        if (ow := overwrites.get(str(gid))) is not None:
            perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
        allow = deny = 0
        for rid in member["roles"]:
            if (ow := overwrites.get(rid)) is not None:
                allow, deny = allow | int(ow["allow"]), deny | int(ow["deny"])
        perms = (perms & ~deny) | allow
        if (ow := overwrites.get(str(user_id))) is not None:
            perms = (perms & ~int(ow["deny"])) | int(ow["allow"])
        return perms

    def guild_permissions(self, user_id: int, guild_id: int) -> int:
        """A member's server-wide permissions (@everyone and their roles; no channel overwrites), as
        `GET /users/@me/guilds` reports them: everything for the owner and for Administrator."""
        guild, roles = self.guilds[guild_id], self.roles[guild_id]
        member = self.members[guild_id].get(user_id)
        if member is None:
            return 0
        if guild["owner_id"] == str(user_id):
            return ALL_PERMISSIONS
        perms = int(roles[guild_id]["permissions"])
        for rid in member["roles"]:
            perms |= int(roles[int(rid)]["permissions"])
        return ALL_PERMISSIONS if perms & Permission.ADMINISTRATOR else perms

    def _require(self, channel_id: int, *needed: int) -> None:
        perms = self.permissions_for(self.bot_id, channel_id)
        if not perms & Permission.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if any(not perms & p for p in needed):
            raise ApiError(403, 50013, "Missing Permissions")

    def _application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        for name in self.privileged_intents:
            flags |= _INTENT_APP_FLAGS[name]
        return flags

    def _bot_user_full(self) -> dict[str, Any]:
        return {**self.bot_user, "verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"}

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "is_monetized": False,
            "is_verified": False,
            "is_discoverable": False,
            "hook": True,
            "bot": self.bot_user,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner,
            "team": None,
            "flags": self._application_flags(),
            "install_params": {
                "scopes": ["bot", "applications.commands"],
                "permissions": str(self.bot_permissions),
            },
            "integration_types_config": {"0": {}, "1": {}},
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "redirect_uris": [],
            "rpc_origins": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
        }

    def _member_payload(self, guild_id: int, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        member = dict(self.members[guild_id][user_id])
        if with_user:
            member["user"] = self.users[user_id]
        return member

    def _guild_payload(self, guild_id: int) -> dict[str, Any]:
        roles = sorted(self.roles[guild_id].values(), key=lambda r: r["position"])
        return {**self.guilds[guild_id], "roles": roles}

    async def _get_me(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._bot_user_full()

    async def _get_my_guilds(self, rec: RecordedRequest) -> tuple[int, Any]:
        """Partial guilds the bot is in, by id, paged with `before`/`after` and `limit` (1-200, default 200)."""
        limit = int(rec.query.get("limit") or 200)
        if not 1 <= limit <= 200:
            raise ApiError(400, 50035, "Invalid Form Body")
        ids = sorted(gid for gid in self.guilds if self.bot_id in self.members[gid])
        if "after" in rec.query:
            ids = [gid for gid in ids if gid > int(rec.query["after"])]
        if "before" in rec.query:
            ids = [gid for gid in ids if gid < int(rec.query["before"])][-limit:]
        page = []
        for gid in ids[:limit]:
            guild = self.guilds[gid]
            partial = {
                "id": guild["id"],
                "name": guild["name"],
                "icon": guild["icon"],
                "banner": guild["banner"],
                "owner": guild["owner_id"] == str(self.bot_id),
                "permissions": str(self.guild_permissions(self.bot_id, gid)),
                "features": guild["features"],
            }
            if rec.query.get("with_counts") in ("true", "1"):
                partial.update(approximate_member_count=len(self.members[gid]), approximate_presence_count=0)
            page.append(partial)
        return 200, page

    async def _get_user(self, rec: RecordedRequest) -> tuple[int, Any]:
        user = self.users.get(int(rec.params["user_id"]))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return 200, user

    async def _create_dm(self, rec: RecordedRequest) -> tuple[int, Any]:
        user = self.users.get(int(rec.json["recipient_id"]))
        if user is None:
            raise ApiError(400, 50007, "Cannot send messages to this user")
        return 200, self.dm_channel(user)

    async def _get_application(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._application()

    async def _get_guild(self, rec: RecordedRequest) -> tuple[int, Any]:
        gid = int(rec.params["guild_id"])
        if gid not in self.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        body = self._guild_payload(gid)
        if rec.query.get("with_counts") in ("true", "1"):
            body.update(approximate_member_count=len(self.members[gid]), approximate_presence_count=0)
        return 200, body

    async def _get_guild_channels(self, rec: RecordedRequest) -> tuple[int, Any]:
        gid = rec.params["guild_id"]
        return 200, [c for c in self.channels.values() if c.get("guild_id") == gid and c["type"] not in THREAD_TYPES]

    async def _get_member(self, rec: RecordedRequest) -> tuple[int, Any]:
        gid, uid = int(rec.params["guild_id"]), int(rec.params["user_id"])
        if gid not in self.guilds:
            raise ApiError(404, 10004, "Unknown Guild")
        if uid not in self.members[gid]:
            raise ApiError(404, 10007, "Unknown Member")
        return 200, self._member_payload(gid, uid)

    async def _get_channel(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._channel(rec.params["channel_id"])
