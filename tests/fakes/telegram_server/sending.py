"""Sending messages and media: ``sendMessage``/``sendPhoto``/``sendDocument``/``sendMediaGroup``/
``sendChatAction``, with parse_mode, length limits, replies and inline keyboards validated like Telegram."""

from __future__ import annotations

import copy
import re
import secrets
from typing import Any

from .files import FilesMixin
from .formatting import PARSERS, auto_entities, utf16_len
from .models import CHAT_ACTIONS, MAX_CAPTION, MAX_TEXT, Call, JSONDict, StoredFile, bad_request


class SendingMixin(FilesMixin):
    """Compose bot messages and store them."""

    def _formatted(self, params: JSONDict, text_key: str, entities_key: str) -> tuple[str, list[JSONDict]]:
        text = params.get(text_key) or ""
        mode = str(params.get("parse_mode") or "").lower()
        if params.get(entities_key):
            return text, list(params[entities_key])
        if mode:
            if mode not in PARSERS:
                raise bad_request(f"unsupported parse_mode {params['parse_mode']}")
            return PARSERS[mode](text)
        return text, auto_entities(text)

    def _inline_markup(self, params: JSONDict) -> JSONDict | None:
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return None  # reply keyboards are not echoed back in the Message
        for row in markup["inline_keyboard"]:
            for button in row:
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                if "url" in button and not re.match(r"(https?|tg)://", button["url"]):
                    raise bad_request("BUTTON_URL_INVALID")
                if len(button) < 2:
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
        return markup if any(markup["inline_keyboard"]) else None

    def _reply_to(self, chat: JSONDict, params: JSONDict) -> JSONDict | None:
        reply = params.get("reply_parameters")
        message_id: Any
        if isinstance(reply, dict):
            message_id, allow = reply.get("message_id"), reply.get("allow_sending_without_reply")
        elif params.get("reply_to_message_id") is not None:
            message_id, allow = params["reply_to_message_id"], params.get("allow_sending_without_reply")
        else:
            return None
        stored = self._messages.get((chat["id"], message_id))
        if stored is None or stored.deleted:
            if allow:
                return None
            raise bad_request("message to be replied not found")
        return self._reply_target(chat["id"], message_id)

    def _compose(self, params: JSONDict) -> JSONDict:
        """Common parts of every message the bot sends. A reply to a message in a forum topic goes to that
        topic, as in Telegram, even without ``message_thread_id``."""
        chat = self._chat(params)
        reply = self._reply_to(chat, params)
        thread_id = params.get("message_thread_id")
        if thread_id is None and reply is not None and reply.get("is_topic_message"):
            thread_id = reply.get("message_thread_id")
        msg = self._new_message(chat, self.bot_user, thread_id)
        if reply is not None:
            msg["reply_to_message"] = reply
        elif (root := self._topic_root(chat["id"], thread_id)) is not None:
            msg["reply_to_message"] = root
        return msg

    def _finish(self, msg: JSONDict, params: JSONDict) -> JSONDict:
        if (markup := self._inline_markup(params)) is not None:
            msg["reply_markup"] = markup
        self._store_message(msg, from_bot=True)
        return copy.deepcopy(msg)

    def _set_caption(self, msg: JSONDict, params: JSONDict) -> None:
        caption, entities = self._formatted(params, "caption", "caption_entities")
        if utf16_len(caption) > MAX_CAPTION:
            raise bad_request("message caption is too long")
        if caption:
            msg["caption"] = caption
            if entities:
                msg["caption_entities"] = entities
        if params.get("show_caption_above_media"):
            msg["show_caption_above_media"] = True
        if params.get("has_spoiler"):
            msg["has_media_spoiler"] = True

    def _set_text(self, msg: JSONDict, params: JSONDict) -> None:
        text, entities = self._formatted(params, "text", "entities")
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise bad_request("message is too long")
        msg["text"] = text
        msg.pop("entities", None)
        if entities:
            msg["entities"] = entities

    def _send_message(self, call: Call) -> JSONDict:
        msg = self._compose(call.params)
        self._set_text(msg, call.params)
        preview = call.params.get("link_preview_options")
        if isinstance(preview, dict) and preview:
            msg["link_preview_options"] = preview
        return self._finish(msg, call.params)

    async def _send_photo(self, call: Call) -> JSONDict:
        msg = self._compose(call.params)
        source = await self._input_file(call.params.get("photo"), call.files, "photo", "photo")
        msg["photo"] = source.photo_sizes if isinstance(source, StoredFile) else self._store_photo(source[1])
        self._set_caption(msg, call.params)
        return self._finish(msg, call.params)

    async def _send_document(self, call: Call) -> JSONDict:
        msg = self._compose(call.params)
        source = await self._input_file(call.params.get("document"), call.files, "document", "document")
        if isinstance(source, StoredFile):
            msg["document"] = self._document_dict(source)
        else:
            msg["document"] = self._store_document(source[1], source[0], None)
        self._set_caption(msg, call.params)
        return self._finish(msg, call.params)

    async def _send_media_group(self, call: Call) -> list[JSONDict]:
        media = call.params.get("media")
        if not media:
            raise bad_request('parameter "media" is required')
        if not isinstance(media, list) or not all(isinstance(m, dict) for m in media):
            raise bad_request("can't parse media JSON object")
        if not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media in the message")
        kinds = {m.get("type") for m in media}
        if "document" in kinds and len(kinds) > 1:
            raise bad_request("document can't be mixed with another media types")
        if not kinds <= {"photo", "document"}:
            raise bad_request(f"unsupported media type in fake: {sorted(kinds)}")
        resolved = [await self._input_file(m.get("media"), call.files, "", m["type"]) for m in media]
        group_id = str(secrets.randbits(60))
        sent = []
        for item, source in zip(media, resolved, strict=True):
            msg = self._compose(call.params)
            msg["media_group_id"] = group_id
            if item["type"] == "photo":
                msg["photo"] = source.photo_sizes if isinstance(source, StoredFile) else self._store_photo(source[1])
            else:
                msg["document"] = (
                    self._document_dict(source)
                    if isinstance(source, StoredFile)
                    else self._store_document(source[1], source[0], None)
                )
            self._set_caption(msg, item)
            self._store_message(msg, from_bot=True)  # albums never carry reply_markup
            sent.append(copy.deepcopy(msg))
        return sent

    def _send_chat_action(self, call: Call) -> bool:
        self._chat(call.params)
        if call.params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True
