"""Threads: creating public/private/forum threads (from a message or not) and thread membership."""

from __future__ import annotations

from typing import Any

from .messages import MessagesMixin
from .models import MESSAGE_FLAG_HAS_THREAD, THREAD_TYPES, ApiError, Permission, RecordedRequest, _form_error, _now_iso


class ThreadsMixin(MessagesMixin):
    """The thread REST routes."""

    async def _create_thread(self, rec: RecordedRequest) -> tuple[int, Any]:
        parent = self._channel(rec.params["channel_id"])
        if "guild_id" not in parent or parent["type"] in THREAD_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        body = rec.json or {}
        from_message = "message_id" in rec.params
        ttype = 11 if from_message or parent["type"] in (15, 16) else int(body.get("type") or 12)
        if ttype == 10 or parent["type"] == 5:
            ttype = 10
        needed = Permission.CREATE_PRIVATE_THREADS if ttype == 12 else Permission.CREATE_PUBLIC_THREADS
        self._require(int(parent["id"]), needed)
        name = body.get("name") or ""
        if not 1 <= len(name) <= 100:
            raise _form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        source = self._message_in(parent["id"], rec.params["message_id"]) if from_message else None
        if source is not None and source["flags"] & MESSAGE_FLAG_HAS_THREAD:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        tid = int(source["id"]) if source is not None else self.snowflake()
        now = _now_iso()
        thread: dict[str, Any] = {
            "id": str(tid),
            "type": ttype,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "owner_id": self.bot_user["id"],
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": body.get("rate_limit_per_user") or 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration") or 4320,
                "archive_timestamp": now,
                "locked": False,
                "create_timestamp": now,
                **({"invitable": body.get("invitable", True)} if ttype == 12 else {}),
            },
        }
        if parent["type"] in (15, 16):
            thread["applied_tags"] = body.get("applied_tags") or []
        self.channels[tid] = thread
        rec.message_id = tid if source is not None else None
        thread_member = {"id": str(tid), "user_id": self.bot_user["id"], "join_timestamp": now, "flags": 1}
        response = dict(thread)
        if parent["type"] in (15, 16):  # forum posts carry their starter message (id == thread id)
            starter = self._build_message(tid, body.get("message") or {}, rec.files)
            starter["id"] = str(tid)
            response["message"] = self._store(starter)
        if source is not None:
            source["flags"] |= MESSAGE_FLAG_HAS_THREAD
            source["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True, "member": thread_member})
        if source is not None:
            await self._announce("MESSAGE_UPDATE", source)
        elif ttype == 11 and parent["type"] == 0:  # "X started a thread" system message in the parent
            notice = {**self._build_message(int(parent["id"]), {"content": name}, []), "type": 18}
            notice["message_reference"] = {"type": 0, "channel_id": str(tid), "guild_id": parent["guild_id"]}
            await self._announce("MESSAGE_CREATE", self._store(notice))
        return 201 if parent["type"] in (15, 16) else 200, response

    async def _thread_member(self, rec: RecordedRequest) -> tuple[int, Any]:
        thread = self._channel(rec.params["channel_id"])
        if thread["type"] not in THREAD_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        delta = 1 if rec.method == "PUT" else -1
        thread["member_count"] = max(0, thread["member_count"] + delta)
        return 204, None
