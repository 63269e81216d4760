"""Editing and deleting bot messages: ``editMessageText``/``Caption``/``ReplyMarkup`` (with "message is not
modified") and ``deleteMessage``; every version is kept in the message's history."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from .models import NOT_MODIFIED, ApiError, Call, JSONDict, bad_request
from .sending import SendingMixin


class EditingMixin(SendingMixin):
    """Edit and delete messages the bot sent."""

    def _edit(self, call: Call, change: Callable[[JSONDict], None]) -> JSONDict:
        if call.params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # inline messages are not modelled
        stored = self._stored(call.params, "edit")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        new = copy.deepcopy(stored.data)
        new.pop("edit_date", None)
        change(new)
        new.pop("reply_markup", None)
        if (markup := self._inline_markup(call.params)) is not None:
            new["reply_markup"] = markup
        old = {k: v for k, v in stored.data.items() if k != "edit_date"}
        if new == old:
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = int(time.time())
        stored.data = new
        stored.history.append(copy.deepcopy(new))
        return copy.deepcopy(new)

    def _edit_message_text(self, call: Call) -> JSONDict:
        def change(msg: JSONDict) -> None:
            if "text" not in msg:
                raise bad_request("there is no text in the message to edit")
            self._set_text(msg, call.params)

        return self._edit(call, change)

    def _edit_message_caption(self, call: Call) -> JSONDict:
        def change(msg: JSONDict) -> None:
            if "text" in msg:
                raise bad_request("there is no caption in the message to edit")
            for key in ("caption", "caption_entities", "show_caption_above_media"):
                msg.pop(key, None)
            self._set_caption(msg, call.params)

        return self._edit(call, change)

    def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        return self._edit(call, lambda _msg: None)

    def _delete_message(self, call: Call) -> bool:
        stored = self._stored(call.params, "delete")
        stored.deleted = True
        return True
