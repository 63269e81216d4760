"""Constants, the Bot API error shape and the records the fake keeps (calls, raw requests, files, messages)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

JSONDict = dict[str, Any]
CallPredicate = Callable[["Call"], bool]

DEFAULT_USER_ID = 1001
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
DEFAULT_ALLOWED = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)  # Telegram's default excludes chat_member, message_reaction and message_reaction_count
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "file_id",
        "url",
        "action",
        "data",
        "inline_message_id",
        "language_code",
        "secret_token",
        "ip_address",
        "photo",
        "document",
        "business_connection_id",
        "message_effect_id",
        "description",
        "title",
        "name",
        "short_description",
    }
)
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": code, "description": ...}``."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


@dataclass
class Call:
    """One Bot API method call as the fake received and answered it."""

    seq: int
    method: str
    params: JSONDict
    files: dict[str, tuple[str, bytes]]
    ts: float  # time.monotonic() when the request arrived
    chat_id: int | str | None
    status: int = 200
    result: Any = None
    error: str | None = None
    long_poll: str | None = None  # getUpdates only: how its last wait ended, "woken" or "timeout"

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class RecordedRequest:
    """Raw HTTP request as received (for leak checks: token in headers, query strings or bodies)."""

    http_method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    ts: float

    def contains(self, text: str, *, in_path: bool = False) -> bool:
        """Search raw and percent-decoded forms (form bodies encode ':' in a token as %3A)."""
        body = self.body.decode("utf-8", "replace")
        haystacks = [self.query_string, body, *(f"{k}: {v}" for k, v in self.headers)]
        if in_path:
            haystacks.append(self.path)
        return any(text in h or text in unquote_plus(h) for h in haystacks)


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    kind: str  # "photo" | "document"
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[JSONDict] | None = None  # shared by every size of one photo
    extra: JSONDict = field(default_factory=dict)  # a sticker's or an animation's own fields


@dataclass
class StoredMessage:
    data: JSONDict  # current Telegram Message object
    from_bot: bool
    deleted: bool = False
    history: list[JSONDict] = field(default_factory=list)
