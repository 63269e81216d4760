"""Channel messages: building, editing and storing message objects (content limits, mentions, replies,
embeds, components), MESSAGE_* announcements, and the message/reaction/typing REST routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .attachments import AttachmentsMixin
from .components import _number_components
from .gateway import GatewayMixin
from .models import (
    _MENTION_RE,
    MAX_CONTENT,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_HAS_THREAD,
    MESSAGE_FLAG_LOADING,
    THREAD_TYPES,
    ApiError,
    Permission,
    RecordedFile,
    RecordedRequest,
    _form_error,
    _now_iso,
)


class MessagesMixin(GatewayMixin, AttachmentsMixin):
    """Create, edit, delete and react to messages; announce changes on the gateway."""

    def _build_message(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: Sequence[RecordedFile],
        *,
        author: dict[str, Any] | None = None,
        ephemeral: bool = False,
        attachments: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A full Discord message object for content sent by the bot (or ``author``)."""
        mid = self.snowflake()
        msg: dict[str, Any] = {
            "id": str(mid),
            "type": 0,
            "channel_id": str(channel_id),
            "author": author or self.bot_user,
            "content": "",
            "embeds": [],
            "attachments": list(attachments),
            "components": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts", False)),
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "flags": int(payload.get("flags") or 0),
        }
        if ephemeral:
            msg["flags"] |= MESSAGE_FLAG_EPHEMERAL
        if payload.get("nonce") is not None:
            msg["nonce"] = payload["nonce"]
        self._apply_edit(msg, payload, files, creating=True)
        if (ref := payload.get("message_reference")) and ref.get("type", 0) == 0:
            self._attach_reply(msg, ref, payload.get("allowed_mentions"))
        if (
            not any(msg[k] for k in ("content", "embeds", "attachments", "components"))
            and not payload.get("sticker_ids")
            and not payload.get("poll")
        ):
            if not msg["flags"] & MESSAGE_FLAG_LOADING:
                raise ApiError(400, 50006, "Cannot send an empty message")
        return msg

    def _apply_edit(
        self,
        msg: dict[str, Any],
        payload: dict[str, Any],
        files: Sequence[RecordedFile],
        *,
        creating: bool = False,
    ) -> None:
        """Apply create/edit semantics: only keys present in ``payload`` change."""
        if "content" in payload:
            content = payload["content"] or ""
            if len(content) > MAX_CONTENT:
                raise _form_error("content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT} or fewer in length.")
            msg["content"] = content
            msg["mentions"] = self._parse_mentions(content, payload.get("allowed_mentions"))
        if "embeds" in payload:
            embeds = payload["embeds"] or []
            if len(embeds) > 10:
                raise _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
            msg["embeds"] = [{"type": "rich", "content_scan_version": 0, **e} for e in embeds]
        if "components" in payload:
            msg["components"] = _number_components(payload["components"] or [])
        if "flags" in payload and not creating:
            keep = msg["flags"] & (MESSAGE_FLAG_EPHEMERAL | MESSAGE_FLAG_HAS_THREAD)
            msg["flags"] = keep | (int(payload["flags"] or 0) & ~MESSAGE_FLAG_EPHEMERAL)
        self._apply_attachments(msg, payload, files)

    def _parse_mentions(self, content: str, allowed: dict[str, Any] | None) -> list[dict[str, Any]]:
        mentioned = []
        for raw in dict.fromkeys(_MENTION_RE.findall(content)):
            uid = int(raw)
            if uid not in self.users:
                continue
            if (
                allowed is not None
                and "users" not in allowed.get("parse", [])
                and raw not in map(str, allowed.get("users", []))
            ):
                continue
            mentioned.append(self.users[uid])
        return mentioned

    def _attach_reply(self, msg: dict[str, Any], ref: dict[str, Any], allowed: dict[str, Any] | None) -> None:
        target_channel = int(ref.get("channel_id") or msg["channel_id"])
        target = self.messages.get(int(ref["message_id"]))
        if target is None or target["channel_id"] != str(target_channel):
            if ref.get("fail_if_not_exists", True):
                raise _form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
            return
        channel = self.channels[target_channel]
        msg["type"] = 19
        msg["message_reference"] = {
            "type": 0,
            "channel_id": str(target_channel),
            "message_id": target["id"],
            **({"guild_id": channel["guild_id"]} if "guild_id" in channel else {}),
        }
        msg["referenced_message"] = {k: v for k, v in target.items() if k != "referenced_message"}
        if allowed is None or allowed.get("replied_user"):
            if all(u["id"] != target["author"]["id"] for u in msg["mentions"]):
                msg["mentions"].append(target["author"])

    def _store(self, msg: dict[str, Any]) -> dict[str, Any]:
        mid, cid = int(msg["id"]), int(msg["channel_id"])
        self.messages[mid] = msg
        channel = self.channels.get(cid)
        if channel is not None:
            channel["last_message_id"] = msg["id"]
            if channel["type"] in THREAD_TYPES:
                channel["message_count"] += 1
                channel["total_message_sent"] += 1
        return msg

    def _gateway_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """MESSAGE_CREATE/UPDATE shape: adds guild_id + member for guild channels."""
        data = dict(msg)
        channel = self.channels.get(int(msg["channel_id"]), {})
        if "guild_id" in channel:
            gid = int(channel["guild_id"])
            data["guild_id"] = channel["guild_id"]
            if int(msg["author"]["id"]) in self.members[gid] and "webhook_id" not in msg:
                data["member"] = self._member_payload(gid, int(msg["author"]["id"]), with_user=False)
            data["mentions"] = [
                {**u, "member": self._member_payload(gid, int(u["id"]), with_user=False)}
                if int(u["id"]) in self.members[gid]
                else u
                for u in msg["mentions"]
            ]
        return data

    async def _announce(self, event: str, msg: dict[str, Any]) -> None:
        if msg["flags"] & MESSAGE_FLAG_EPHEMERAL or not self._sessions:
            return
        if event == "MESSAGE_DELETE":
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if "guild_id" in (channel := self.channels.get(int(msg["channel_id"]), {})):
                data["guild_id"] = channel["guild_id"]
            await self.dispatch(event, data)
        else:
            await self.dispatch(event, self._gateway_message(msg))

    def _send_permissions(self, channel: dict[str, Any], files: Sequence[RecordedFile], *, reply: bool = False) -> None:
        """Send Messages (in threads: Send Messages in Threads), Attach Files for files, Read Message History
        for a reply."""
        if "guild_id" not in channel:
            return
        send = Permission.SEND_MESSAGES_IN_THREADS if channel["type"] in THREAD_TYPES else Permission.SEND_MESSAGES
        needed = [send, *([Permission.ATTACH_FILES] if files else [])]
        if reply:
            needed.append(Permission.READ_MESSAGE_HISTORY)
        self._require(int(channel["id"]), *needed)
        if channel["type"] in THREAD_TYPES and channel["thread_metadata"]["locked"]:
            raise ApiError(403, 50083, "Thread is archived")

    async def _post_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        channel = self._channel(rec.params["channel_id"])
        self._send_permissions(channel, rec.files, reply=bool((rec.json or {}).get("message_reference")))
        msg = self._store(self._build_message(int(channel["id"]), rec.json or {}, rec.files))
        rec.message_id, rec.effect = int(msg["id"]), "create"
        await self._announce("MESSAGE_CREATE", msg)
        return 200, msg

    async def _get_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._message_in(rec.params["channel_id"], rec.params["message_id"])

    async def _get_history(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._channel(rec.params["channel_id"])
        msgs = self.messages_in(int(rec.params["channel_id"]))
        if "before" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) < int(rec.query["before"])]
        if "after" in rec.query:
            msgs = [m for m in msgs if int(m["id"]) > int(rec.query["after"])]
        limit = int(rec.query.get("limit", 50))
        newest_first = list(reversed(msgs))
        if "after" in rec.query:
            return 200, newest_first[-limit:]
        return 200, newest_first[:limit]

    async def _patch_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        msg = self._message_in(rec.params["channel_id"], rec.params["message_id"])
        payload = rec.json or {}
        if msg["author"]["id"] != self.bot_user["id"] and set(payload) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self._edit(msg, payload, rec)
        await self._announce("MESSAGE_UPDATE", msg)
        return 200, msg

    def _edit(self, msg: dict[str, Any], payload: dict[str, Any], rec: RecordedRequest) -> None:
        self._apply_edit(msg, payload, rec.files)
        msg["flags"] &= ~MESSAGE_FLAG_LOADING
        msg["edited_timestamp"] = _now_iso()
        rec.message_id, rec.effect = int(msg["id"]), "edit"

    async def _delete_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        msg = self._message_in(rec.params["channel_id"], rec.params["message_id"])
        if msg["author"]["id"] != self.bot_user["id"]:
            self._require(int(msg["channel_id"]), Permission.MANAGE_MESSAGES)
        self._delete(msg, rec)
        await self._announce("MESSAGE_DELETE", msg)
        return 204, None

    def _delete(self, msg: dict[str, Any], rec: RecordedRequest) -> None:
        self.deleted_messages[int(msg["id"])] = self.messages.pop(int(msg["id"]))
        rec.message_id, rec.effect = int(msg["id"]), "delete"

    async def _react(self, rec: RecordedRequest) -> tuple[int, Any]:
        msg = self._message_in(rec.params["channel_id"], rec.params["message_id"])
        name, _, eid = rec.params["emoji"].partition(":")
        emoji = {"id": eid or None, "name": name}
        reactions = msg.setdefault("reactions", [])
        current = next((r for r in reactions if r["emoji"] == emoji), None)
        if rec.method == "PUT":
            self._require(int(msg["channel_id"]), Permission.ADD_REACTIONS, Permission.READ_MESSAGE_HISTORY)
            if current is None:
                reactions.append(
                    {
                        "emoji": emoji,
                        "count": 1,
                        "count_details": {"burst": 0, "normal": 1},
                        "burst_colors": [],
                        "me": True,
                        "me_burst": False,
                        "burst_me": False,
                        "burst_count": 0,
                    }
                )
            elif not current["me"]:
                current.update(me=True, count=current["count"] + 1)
        elif current is not None and current["me"]:
            current.update(me=False, count=current["count"] - 1)
            msg["reactions"] = [r for r in reactions if r["count"] > 0]
        return 204, None

    async def _typing(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._require(int(self._channel(rec.params["channel_id"])["id"]), Permission.SEND_MESSAGES)
        return 204, None
