"""Matrix events <-> the adapter's neutral pieces: what a message event says (text, image, thread,
reply), where answers go (a thread of the request, or a reply in a DM) and the keys the store links
messages, conversations and jobs by. Room and event ids never hold a space, so keys join them with one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PLATFORM = "matrix"


def message_key(room_id: str, event_id: str) -> str:
    return f"{PLATFORM}:{room_id} {event_id}"


def conversation_key(room_id: str, thread_root: str | None) -> str:
    """A DM is one conversation; in a room, every thread is its own."""
    return f"{PLATFORM}:{room_id}" if thread_root is None else f"{PLATFORM}:{room_id} {thread_root}"


def thread_of(conversation: str) -> str | None:
    """The thread a conversation key names (None for a DM's)."""
    _, space, root = conversation.partition(" ")
    return root if space else None


@dataclass(frozen=True)
class Target:
    """Where answers go: a room, the thread in it (rooms) and the event the first answer replies to."""

    room_id: str
    thread_root: str | None
    reply_to: str | None
    encrypted: bool = False  # files go up encrypted (events are encrypted by nio as they are sent)

    def relation(self, *, reply: bool) -> dict[str, Any]:
        """`m.relates_to` for an answer: in the thread (replying to the request, or as the thread's fallback
        for clients without threads), or, in a DM, a reply to the request."""
        if self.thread_root is not None:
            quoted = self.reply_to if reply and self.reply_to else self.thread_root
            return {
                "rel_type": "m.thread",
                "event_id": self.thread_root,
                "is_falling_back": not (reply and self.reply_to),
                "m.in_reply_to": {"event_id": quoted},
            }
        if reply and self.reply_to:
            return {"m.in_reply_to": {"event_id": self.reply_to}}
        return {}

    def content(self, content: dict[str, Any], *, reply: bool) -> dict[str, Any]:
        relation = self.relation(reply=reply)
        return {**content, "m.relates_to": relation} if relation else dict(content)


@dataclass(frozen=True)
class MediaRef:
    """An image in the media repository, as an event names it."""

    url: str  # mxc://server/id
    mime: str
    size: int | None
    keys: dict[str, Any] | None = None  # an encrypted file's key, iv and hashes (EncryptedFile)


@dataclass(frozen=True)
class Incoming:
    """One m.room.message event, as far as the adapter needs it."""

    room_id: str
    event_id: str
    sender: str
    text: str  # the body (an image's caption; "" for an image without one), reply fallback removed
    thread_root: str | None
    reply_to: str | None  # a real reply's event (not a thread's fallback)
    image: MediaRef | None
    mentions: tuple[str, ...]


def incoming(room_id: str, event: dict[str, Any]) -> Incoming | None:
    content = event.get("content")
    if not isinstance(content, dict) or not isinstance(content.get("body", ""), str):
        return None
    relation = _dict(content.get("m.relates_to"))
    if relation.get("rel_type") == "m.replace":
        return None  # an edit: the message it edits was answered already
    thread_root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
    replied = relation.get("m.in_reply_to")
    reply_to = replied.get("event_id") if isinstance(replied, dict) else None
    if thread_root is not None and relation.get("is_falling_back"):
        reply_to = None
    image = media_of(content)
    text = content.get("body", "")
    if image is not None:
        # A caption is a body other than the file's name (Matrix 1.10 media captions).
        filename = content.get("filename")
        text = text if filename and text != filename else ""
    if reply_to is not None:
        text = strip_reply_fallback(text)
    mentions = [user for user in _dict(content.get("m.mentions")).get("user_ids") or [] if isinstance(user, str)]
    return Incoming(
        room_id, event["event_id"], event["sender"], text.strip(), thread_root, reply_to, image, tuple(mentions)
    )


def media_of(content: dict[str, Any]) -> MediaRef | None:
    """The image an m.image (or an image m.file) names, plain or encrypted; None for anything else."""
    file = _dict(content.get("file"))
    url = file.get("url") if file else content.get("url")
    info = _dict(content.get("info"))
    mime = str(info.get("mimetype") or "")
    if not isinstance(url, str) or not url.startswith("mxc://"):
        return None
    if content.get("msgtype") != "m.image" and not mime.startswith("image/"):
        return None
    size = info.get("size")
    return MediaRef(url, mime, size if isinstance(size, int) else None, file or None)


def strip_reply_fallback(text: str) -> str:
    """Older clients quote the replied-to message (`> <@a:b> ...`, then a blank line) before the reply."""
    lines = text.split("\n")
    if not lines or not lines[0].startswith("> "):
        return text
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    return "\n".join(lines).lstrip("\n")


def _dict(value: object) -> dict[str, Any]:
    """A JSON object from an event, or {} for anything else (events are what any client chose to send)."""
    return value if isinstance(value, dict) else {}
