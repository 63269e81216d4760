"""The state every area of the fake shares (declared here, filled by ``FakeTelegram.__init__``): users,
chats and messages, and the lookups that answer "chat not found" / "message to ... not found"."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .models import DEFAULT_USER_ID, Call, JSONDict, RecordedRequest, StoredFile, StoredMessage, bad_request


class TelegramState:
    """Configuration, world and records; each area mixin builds on this."""

    token: str
    bot_username: str
    bot_id: int
    bot_user: JSONDict
    _host: str
    _port: int
    _runner: web.AppRunner | None
    # recording
    _calls: list[Call]
    _requests: list[RecordedRequest]
    _calls_cond: asyncio.Condition
    # world state
    _chats: dict[int, JSONDict]
    _users: dict[int, JSONDict]
    _messages: dict[tuple[int, int], StoredMessage]
    _next_message_id: dict[int, int]
    _files: dict[str, StoredFile]
    # Bot API methods
    _handlers: dict[str, Callable[[Call], Any]]
    _method_names: dict[str, str]  # lower-case -> canonical (Telegram ignores case)

    def add_user(
        self, user_id: int, *, username: str | None = None, first_name: str | None = None, language_code: str = "en"
    ) -> JSONDict:
        user = self._users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
        }
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        is_forum: bool = False,
    ) -> JSONDict:
        """Register a chat (type inferred from the id like Telegram: >0 private, -100... supergroup)."""
        chat = self._chats.get(chat_id)
        if chat is None:
            chat_type = chat_type or (
                "private" if chat_id > 0 else "supergroup" if chat_id <= -1_000_000_000_000 else "group"
            )
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                user = self._users.get(chat_id) or self.add_user(chat_id, username=username, first_name=first_name)
                chat["first_name"] = user["first_name"]
                if "username" in user:
                    chat["username"] = user["username"]
            else:
                chat["title"] = title or f"Chat {chat_id}"
            self._chats[chat_id] = chat
        elif chat_type and chat["type"] != chat_type:
            raise ValueError(f"chat {chat_id} already registered as {chat['type']}")
        if title and chat["type"] != "private":
            chat["title"] = title
        if username and chat["type"] != "private":
            chat["username"] = username
        if is_forum and chat["type"] == "supergroup":
            chat["is_forum"] = True
        return chat

    def _new_message(self, chat: JSONDict, sender: JSONDict, thread_id: int | None) -> JSONDict:
        message_id = self._next_message_id.get(chat["id"], 1)
        self._next_message_id[chat["id"]] = message_id + 1
        msg: JSONDict = {
            "message_id": message_id,
            "from": copy.deepcopy(sender),
            "chat": copy.deepcopy(chat),
            "date": int(time.time()),
        }
        if thread_id is not None and chat["type"] == "supergroup":
            msg["message_thread_id"] = thread_id
            if chat.get("is_forum"):
                msg["is_topic_message"] = True
        return msg

    def open_topic(self, chat_id: int, name: str, *, user_id: int | None = None) -> int:
        """Create a forum topic like Telegram: a ``forum_topic_created`` service message whose id is the
        topic's ``message_thread_id``; messages in it then reply to that message unless they reply to another."""
        chat = self.add_chat(chat_id, "supergroup", is_forum=True)
        msg = self._new_message(chat, self.add_user(user_id or DEFAULT_USER_ID), None)
        msg.update(message_thread_id=msg["message_id"], is_topic_message=True)
        msg["forum_topic_created"] = {"name": name, "icon_color": 7322096}
        self._store_message(msg, from_bot=False)
        return msg["message_id"]

    def _topic_root(self, chat_id: int, thread_id: int | None) -> JSONDict | None:
        """The service message that opened a forum topic (what its messages reply to), if it was opened here."""
        stored = self._messages.get((chat_id, thread_id)) if thread_id is not None else None
        if stored is None or "forum_topic_created" not in stored.data:
            return None
        return copy.deepcopy(stored.data)

    def _store_message(self, msg: JSONDict, *, from_bot: bool) -> None:
        stored = StoredMessage(data=msg, from_bot=from_bot, history=[copy.deepcopy(msg)])
        self._messages[(msg["chat"]["id"], msg["message_id"])] = stored

    @staticmethod
    def _message_key(message: JSONDict | Any) -> tuple[int, int]:
        if not isinstance(message, dict):
            message = message.to_dict()  # a telegram.Message
        return message["chat"]["id"], message["message_id"]

    def _reply_target(self, chat_id: int, reply_to: JSONDict | int) -> JSONDict:
        message_id = reply_to if isinstance(reply_to, int) else self._message_key(reply_to)[1]
        stored = self._messages.get((chat_id, message_id))
        if stored is None or stored.deleted:
            raise ValueError(f"no message {message_id} in chat {chat_id} to reply to")
        target = copy.deepcopy(stored.data)
        target.pop("reply_to_message", None)  # Telegram does not nest replies further
        return target

    def _chat(self, params: JSONDict) -> JSONDict:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, str):
            chat = next((c for c in self._chats.values() if "@" + c.get("username", "") == chat_id), None)
        else:
            chat = self._chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def _stored(self, params: JSONDict, verb: str) -> StoredMessage:
        chat = self._chat(params)
        if "message_id" not in params:
            raise bad_request("message identifier is not specified")
        stored = self._messages.get((chat["id"], params["message_id"]))
        if stored is None or stored.deleted:
            raise bad_request(f"message to {verb} not found")
        return stored
