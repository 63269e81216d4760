"""Incoming updates: pushing user messages and raw updates, ``getUpdates`` long polling (offsets,
``allowed_updates``, conflicts between pollers) and the webhook methods."""

from __future__ import annotations

import asyncio
import copy
import time

from .files import FilesMixin
from .formatting import auto_entities
from .models import DEFAULT_ALLOWED, DEFAULT_USER_ID, ApiError, Call, JSONDict, bad_request


class UpdatesMixin(FilesMixin):
    """The update queue and how the bot fetches it."""

    _webhook: JSONDict
    _updates: list[JSONDict]
    _next_update_id: int
    _allowed_updates: frozenset[str]
    _updates_event: asyncio.Event
    _poll_generation: int
    _parked_polls: int  # getUpdates requests currently blocked in a long poll
    _poll_cond: asyncio.Condition
    _closing: bool

    def push_message(
        self,
        chat_id: int,
        text: str | None = None,
        *,
        chat_type: str | None = None,
        user_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
        chat_title: str | None = None,
        caption: str | None = None,
        photo_file_id: str | None = None,
        document_file_id: str | None = None,
        sticker_file_id: str | None = None,
        animation_file_id: str | None = None,
        reply_to: JSONDict | int | None = None,
        message_thread_id: int | None = None,
        entities: list[JSONDict] | None = None,
        media_group_id: str | None = None,
    ) -> JSONDict:
        """Queue an incoming ``message`` update from a user; returns the update dict."""
        media = (photo_file_id, document_file_id, sticker_file_id, animation_file_id)
        if text is None and not any(media):
            raise ValueError("push_message needs text, or a photo, document, sticker or animation file_id")
        if text is not None and (any(media) or caption):
            raise ValueError("a Telegram message has either text or media (+caption), not both")
        if sticker_file_id and caption:
            raise ValueError("a sticker has no caption")
        chat = self.add_chat(chat_id, chat_type, title=chat_title, is_forum=message_thread_id is not None)
        if chat["type"] == "private":
            if user_id not in (None, chat_id):
                raise ValueError("in a private chat the sender's user_id equals chat_id")
            user_id = chat_id
        user = self.add_user(user_id or DEFAULT_USER_ID, username=username, first_name=first_name)
        msg = self._new_message(chat, user, message_thread_id)
        if reply_to is not None:
            msg["reply_to_message"] = self._reply_target(chat_id, reply_to)
        elif (root := self._topic_root(chat_id, message_thread_id)) is not None:
            msg["reply_to_message"] = root  # in a topic, every message "replies" to its opening message
        if text is not None:
            msg["text"] = text
            ents = auto_entities(text) if entities is None else entities
            if ents:
                msg["entities"] = ents
        if photo_file_id is not None:
            msg["photo"] = self._file(photo_file_id, "photo").photo_sizes
        if document_file_id is not None:
            msg["document"] = self._document_dict(self._file(document_file_id, "document"))
        if sticker_file_id is not None:
            msg["sticker"] = self._media_dict(self._file(sticker_file_id, "sticker"))
        if animation_file_id is not None:  # like Telegram, also as a document (for older clients)
            msg["animation"] = msg["document"] = self._media_dict(self._file(animation_file_id, "animation"))
        if media_group_id is not None:
            msg["media_group_id"] = media_group_id
        if caption is not None:
            msg["caption"] = caption
            if ents := (auto_entities(caption) if entities is None else entities):
                msg["caption_entities"] = ents
        self._store_message(msg, from_bot=False)
        return self._enqueue("message", msg)

    def push_update(self, update_type: str, payload: JSONDict) -> JSONDict:
        """Queue any other raw update (``edited_message``, ``my_chat_member``...)."""
        return self._enqueue(update_type, payload)

    @property
    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by a getUpdates ``offset``."""
        return list(self._updates)

    async def wait_for_long_poll(self, *, timeout: float = 5.0) -> None:
        """Wait until a getUpdates request is parked server-side waiting for updates."""
        async with asyncio.timeout(timeout), self._poll_cond:
            await self._poll_cond.wait_for(lambda: self._parked_polls > 0)

    async def wait_until_confirmed(self, *, timeout: float = 5.0) -> None:
        """Wait until every pushed update was confirmed by a getUpdates ``offset`` (i.e. fetched)."""
        async with asyncio.timeout(timeout), self._poll_cond:
            await self._poll_cond.wait_for(lambda: not self._updates)

    def _enqueue(self, update_type: str, payload: JSONDict) -> JSONDict:
        update = {"update_id": self._next_update_id, update_type: payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._wake_pollers()
        return copy.deepcopy(update)

    def _wake_pollers(self) -> None:
        self._updates_event.set()
        self._updates_event = asyncio.Event()

    def _delete_webhook(self, call: Call) -> bool:
        self._webhook = {"url": ""}
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, call: Call) -> bool:
        url = call.params.get("url") or ""
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self._webhook = {"url": url}
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def fail_webhook_deliveries(self, message: str) -> None:
        """Telegram could not deliver to the webhook: getWebhookInfo reports when and why (pushed updates stay
        pending, as the fake never delivers them itself)."""
        self._webhook.update(last_error_date=int(time.time()), last_error_message=message)

    def _get_webhook_info(self, _call: Call) -> JSONDict:
        info = {
            "url": self._webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook["url"]:
            info["max_connections"] = 40
        return info | {k: v for k, v in self._webhook.items() if k.startswith("last_error")}

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        if self._webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        offset, limit = int(params.get("offset") or 0), min(max(int(params.get("limit") or 100), 1), 100)
        if "allowed_updates" in params:  # persisted like Telegram; [] means "default set"
            self._allowed_updates = frozenset(params["allowed_updates"] or DEFAULT_ALLOWED)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        async with self._poll_cond:
            self._poll_cond.notify_all()  # for wait_until_confirmed
        # a newer getUpdates terminates an older pending one, exactly like Telegram
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()
        deadline = time.monotonic() + max(float(params.get("timeout") or 0), 0.0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )
            ready = [u for u in self._updates if _update_type(u) in self._allowed_updates][:limit]
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._closing:
                return copy.deepcopy(ready)
            event = self._updates_event
            await self._park_poll(+1)
            try:
                await asyncio.wait_for(event.wait(), remaining)
                call.long_poll = "woken"
            except TimeoutError:
                call.long_poll = "timeout"
            finally:
                await self._park_poll(-1)

    async def _park_poll(self, delta: int) -> None:
        async with self._poll_cond:
            self._parked_polls += delta
            self._poll_cond.notify_all()


def _update_type(update: JSONDict) -> str:
    return next(k for k in update if k != "update_id")
