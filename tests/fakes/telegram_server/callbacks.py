"""Callback queries: a user pressing an inline button (``callback_query`` update) and ``answerCallbackQuery``."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from .models import DEFAULT_USER_ID, Call, JSONDict, bad_request
from .updates import UpdatesMixin


class CallbacksMixin(UpdatesMixin):
    """Push button presses and check that each is answered once."""

    _callback_queries: dict[str, bool]  # id -> answered

    def push_callback_query(
        self,
        message: JSONDict | Any,
        data: str,
        *,
        user_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSONDict:
        """Queue a ``callback_query`` update as if a user pressed a button on a bot message."""
        chat_id, message_id = self._message_key(message)
        stored = self._messages.get((chat_id, message_id))
        if stored is None:
            raise ValueError(f"no message {message_id} in chat {chat_id}")
        chat = self._chats[chat_id]
        user_id = user_id or (chat_id if chat["type"] == "private" else DEFAULT_USER_ID)
        user = self.add_user(user_id, username=username, first_name=first_name)
        # a deleted message is delivered as InaccessibleMessage (date == 0)
        shown = {"chat": chat, "message_id": message_id, "date": 0} if stored.deleted else stored.data
        query_id = str(secrets.randbits(62))
        self._callback_queries[query_id] = False
        query = {
            "id": query_id,
            "from": user,
            "message": copy.deepcopy(shown),
            "chat_instance": str((chat_id * 7919 + self.bot_id) % 10**18),
            "data": data,
        }
        return self._enqueue("callback_query", query)

    def _answer_callback_query(self, call: Call) -> bool:
        query_id = str(call.params.get("callback_query_id") or "")
        if self._callback_queries.get(query_id, True):  # unknown or already answered
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        if len(call.params.get("text") or "") > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True
