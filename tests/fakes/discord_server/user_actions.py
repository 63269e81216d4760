"""What users do, injected by tests: post messages, click buttons / pick select values, submit modals;
builds INTERACTION_CREATE payloads (member, permissions, channel) and dispatches them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .components import _mirror_modal, _walk_components
from .messages import MessagesMixin
from .models import ATTACHMENT_SIZE_LIMIT, FakeInteraction, InteractionType, _sid


class UserActionsMixin(MessagesMixin):
    """``dispatch_message``, ``dispatch_component``, ``dispatch_modal_submit`` and their plumbing."""

    async def create_role(self, guild_id: int, name: str, permissions: int = 0) -> dict[str, Any]:
        """A role made while the bot is connected: GUILD_ROLE_CREATE tells it, as Discord does."""
        role = self.add_role(guild_id, name, permissions)
        if self._sessions:
            await self.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role})
        return role

    def _resolve_location(
        self, guild_id: int | None, channel_id: int | None, user: dict[str, Any], dm: bool
    ) -> tuple[int | None, int]:
        if dm:
            return None, int(self.dm_channel(user)["id"])
        if channel_id is not None:
            channel = self._channel(channel_id)
            return _sid(channel.get("guild_id")) if guild_id is None else guild_id, channel_id
        gid = guild_id or self.guild_id
        return gid, self.text_channels(gid)[0]

    def _interaction_payload(
        self,
        itype: InteractionType,
        data: dict[str, Any] | None,
        *,
        user: dict[str, Any] | None,
        guild_id: int | None,
        channel_id: int | None,
        member_permissions: int | None,
        locale: str,
        dm: bool = False,
        message: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        user = user or self.user
        gid, cid = self._resolve_location(guild_id, channel_id, user, dm)
        iid = self.snowflake()
        channel = dict(self.channels[cid])
        payload: dict[str, Any] = {
            "id": str(iid),
            "application_id": str(self.application_id),
            "type": int(itype),
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96),
            "version": 1,
            "channel_id": str(cid),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
        }
        if data is not None:
            payload["data"] = data
        if gid is not None:
            uid = int(user["id"])
            if uid not in self.members[gid]:
                self.add_member(gid, user)
            perms = self.permissions_for(uid, cid) if member_permissions is None else member_permissions
            channel["permissions"] = str(perms)
            payload.update(
                guild_id=str(gid),
                guild={"id": str(gid), "locale": self.guilds[gid]["preferred_locale"], "features": []},
                guild_locale=self.guilds[gid]["preferred_locale"],
                member={**self._member_payload(gid, uid), "permissions": str(perms)},
                app_permissions=str(self.permissions_for(self.bot_id, cid)),
                authorizing_integration_owners={"0": str(gid)},
                context=0,
            )
        else:
            payload.update(
                user=user,
                app_permissions=str(self.permissions_for(self.bot_id, cid)),
                authorizing_integration_owners={"0": "0"},
                context=1,
            )
        payload["channel"] = channel
        if message is not None:
            payload["message"] = message
        return payload

    async def _dispatch_interaction(self, payload: dict[str, Any]) -> FakeInteraction:
        inter = FakeInteraction(
            id=int(payload["id"]),
            token=payload["token"],
            type=payload["type"],
            payload=payload,
            created=time.monotonic(),
            channel_id=int(payload["channel_id"]),
            guild_id=_sid(payload.get("guild_id")),
        )
        self.interactions[inter.id] = inter
        await self.dispatch("INTERACTION_CREATE", payload)
        return inter

    def _find_component(self, custom_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for msg in sorted(self.messages.values(), key=lambda m: int(m["id"]), reverse=True):
            for comp in _walk_components(msg.get("components", [])):
                if comp.get("custom_id") == custom_id:
                    return msg, comp
        return None

    async def dispatch_component(
        self,
        custom_id: str,
        *,
        message: dict[str, Any] | int | None = None,
        values: Sequence[str] | None = None,
        component_type: int | None = None,
        user: dict[str, Any] | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Click a button / pick select values. Without ``message``, the newest stored message that
        carries a component with ``custom_id`` is used (like a user clicking it).

        Requests are recorded when the fake *receives* them, i.e. possibly before discord.py has parsed
        the response. A non-persistent view is only registered (``store_view``) after that, so wait for a
        bot-side signal (e.g. ``client.wait_for("app_command_completion")``) before clicking it."""
        if message is None:
            found = self._find_component(custom_id)
            if found is None:
                raise LookupError(f"no stored message has a component with custom_id {custom_id!r}")
            msg, comp = found
        else:
            msg = message if isinstance(message, dict) else self.messages[int(message)]
            comp = next(
                (c for c in _walk_components(msg.get("components", [])) if c.get("custom_id") == custom_id),
                {},
            )
        ctype = component_type or comp.get("type", 2)
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if "id" in comp:
            data["id"] = comp["id"]
        if ctype in (3, 5, 6, 7, 8):
            data["values"] = list(values or [])
        payload = self._interaction_payload(
            InteractionType.MESSAGE_COMPONENT,
            data,
            user=user,
            guild_id=None,
            channel_id=int(msg["channel_id"]),
            member_permissions=member_permissions,
            locale=locale,
            dm="guild_id" not in self.channels[int(msg["channel_id"])],
            message=msg,
        )
        return await self._dispatch_interaction(payload)

    async def dispatch_modal_submit(
        self,
        custom_id: str,
        values: Mapping[str, str | Sequence[str]],
        *,
        user: dict[str, Any] | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        """Submit the newest modal the bot opened with ``custom_id``; ``values`` maps component
        custom_id -> text (or list of values for selects). The submitted structure mirrors the modal
        (action rows or labels), as the Discord client does."""
        opened = next(((i, d) for i, d in reversed(self.modals) if d.get("custom_id") == custom_id), None)
        if opened is None:
            raise LookupError(f"the bot never opened a modal with custom_id {custom_id!r}")
        origin, modal = opened
        components = _mirror_modal(modal.get("components", []), dict(values))
        data = {"custom_id": custom_id, "components": components}
        message = origin.payload.get("message")
        if message is not None:
            message = self.messages.get(int(message["id"]), message)
        payload = self._interaction_payload(
            InteractionType.MODAL_SUBMIT,
            data,
            user=user or origin.payload.get("member", {}).get("user") or origin.payload.get("user"),
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            member_permissions=member_permissions,
            locale=locale,
            dm=origin.guild_id is None,
            message=message,
        )
        return await self._dispatch_interaction(payload)

    async def dispatch_message(
        self,
        content: str,
        *,
        author: dict[str, Any] | None = None,
        channel_id: int | None = None,
        guild_id: int | None = None,
        attachments: Sequence[dict[str, Any]] = (),
        mentions: Sequence[dict[str, Any] | int] = (),
        message_reference: dict[str, Any] | int | None = None,
        embeds: Sequence[dict[str, Any]] = (),
        dm: bool = False,
    ) -> dict[str, Any]:
        """A user posts a message (MESSAGE_CREATE). Mentions in ``content`` (``<@id>``) are parsed
        too; without the MESSAGE_CONTENT intent the bot gets scrubbed content unless mentioned."""
        author = author or self.user
        gid, cid = self._resolve_location(guild_id, channel_id, author, dm)
        if gid is not None and int(author["id"]) not in self.members[gid]:
            self.add_member(gid, author)
        payload: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        if message_reference is not None:
            ref = message_reference if isinstance(message_reference, dict) else {"message_id": message_reference}
            payload["message_reference"] = {"channel_id": str(cid), **ref}
        msg = self._build_message(cid, payload, [], author=author, attachments=attachments)
        for extra in mentions:
            user = extra if isinstance(extra, dict) else self.users[int(extra)]
            if all(u["id"] != user["id"] for u in msg["mentions"]):
                msg["mentions"].append(user)
        self._store(msg)
        await self._announce("MESSAGE_CREATE", msg)
        return msg
