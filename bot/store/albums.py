"""Album parts: Telegram sends each photo of a media group as its own update, and with several webhook
workers they may reach different processes. Every part is written here; whoever answers the album reads
them all back."""

from __future__ import annotations

from bot.store.db import Database

KEEP_SECONDS = 3600.0  # parts older than this are gone: an album is answered within seconds


class AlbumStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, chat_id: str, media_group_id: str, message_id: int, part: str, now: float) -> None:
        """Keep one part (the adapter's JSON of its message); a repeated delivery is kept once."""
        await self._db.execute(
            "INSERT INTO album_parts(media_group_id, chat_id, message_id, part, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (media_group_id, chat_id, message_id, part, now),
        )

    async def count(self, chat_id: str, media_group_id: str) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM album_parts WHERE media_group_id = ? AND chat_id = ?",
            (media_group_id, chat_id),
        )
        return int(row["n"]) if row is not None else 0

    async def parts(self, chat_id: str, media_group_id: str) -> list[str]:
        """Every part kept for this album, in message order."""
        rows = await self._db.fetchall(
            "SELECT part FROM album_parts WHERE media_group_id = ? AND chat_id = ? ORDER BY message_id",
            (media_group_id, chat_id),
        )
        return [row["part"] for row in rows]

    async def forget_before(self, cutoff: float) -> None:
        await self._db.execute("DELETE FROM album_parts WHERE created_at < ?", (cutoff,))
