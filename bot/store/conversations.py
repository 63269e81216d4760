"""Chat history per conversation key (thread, reply chain, private chat), capped in length,
and the links from messages the bot sent to their conversation or job."""

from __future__ import annotations

import json
import time

from bot.providers.base import ChatMessage
from bot.store.db import Database, Row


class ConversationStore:
    def __init__(self, db: Database, max_messages: int) -> None:
        self._db = db
        self._max_messages = max_messages

    async def history(self, conversation: str) -> list[ChatMessage]:
        rows = await self._db.fetchall(
            "SELECT role, text, images FROM conversation_messages WHERE conversation = ? ORDER BY id DESC LIMIT ?",
            (conversation, self._max_messages),
        )
        return [ChatMessage(row["role"], row["text"], json.loads(row["images"])) for row in reversed(rows)]

    async def append(self, conversation: str, *messages: ChatMessage) -> list[str]:
        """Store messages; returns the images of trimmed messages that no message left here still uses."""
        now = time.time()
        rows = [(conversation, m.role, m.text, json.dumps(m.images), now) for m in messages]
        # One statement, so a question is never stored without its answer.
        await self._db.execute(
            "INSERT INTO conversation_messages(conversation, role, text, images, created_at) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?)"] * len(rows)),
            tuple(value for row in rows for value in row),
        )
        # Keep the newest messages only: the cap bounds both storage and prompt size.
        trimmed = _images(
            await self._db.fetchall(
                "DELETE FROM conversation_messages WHERE conversation = ? AND id NOT IN "
                "(SELECT id FROM conversation_messages WHERE conversation = ? ORDER BY id DESC LIMIT ?) "
                "RETURNING images",
                (conversation, conversation, self._max_messages),
            )
        )
        if not trimmed:
            return []
        kept = _images(
            await self._db.fetchall(
                "SELECT images FROM conversation_messages WHERE conversation = ? AND images != '[]'", (conversation,)
            )
        )
        return sorted(set(trimmed) - set(kept))

    async def clear(self, conversation: str) -> list[str]:
        """Forget a conversation; returns the images its messages used."""
        rows = await self._db.fetchall(
            "DELETE FROM conversation_messages WHERE conversation = ? RETURNING images", (conversation,)
        )
        return sorted(set(_images(rows)))

    async def link_message(
        self, message_key: str, *, conversation: str | None = None, job_id: str | None = None
    ) -> None:
        # created_at is renewed by each link, so retention counts from the last time a message was linked.
        await self._db.execute(
            "INSERT INTO message_links(message_key, conversation, job_id, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(message_key) DO UPDATE SET "
            "conversation = COALESCE(excluded.conversation, message_links.conversation), "
            "job_id = COALESCE(excluded.job_id, message_links.job_id), created_at = excluded.created_at",
            (message_key, conversation, job_id, time.time()),
        )

    async def linked(self, message_key: str) -> tuple[str | None, str | None]:
        """(conversation, job id) a bot message belongs to, or (None, None)."""
        row = await self._db.fetchone(
            "SELECT conversation, job_id FROM message_links WHERE message_key = ?", (message_key,)
        )
        return (row["conversation"], row["job_id"]) if row else (None, None)


def _images(rows: list[Row]) -> list[str]:
    return [image for row in rows if row["images"] != "[]" for image in json.loads(row["images"])]
