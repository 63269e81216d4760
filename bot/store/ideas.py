"""`/describe`'s prompt ideas: kept so each idea's button imagines it, in any process, after a restart."""

from __future__ import annotations

import json
import time
import uuid

from bot.store.db import Database


class IdeaStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, scope_key: str, prompts: list[str]) -> str:
        idea_id = uuid.uuid4().hex[:16]
        await self._db.execute(
            "INSERT INTO prompt_ideas(id, scope_key, prompts, created_at) VALUES (?, ?, ?, ?)",
            (idea_id, scope_key, json.dumps(prompts), time.time()),
        )
        return idea_id

    async def get(self, idea_id: str) -> tuple[str, list[str]] | None:
        """The scope the ideas were given in, and the prompts; None once gone."""
        row = await self._db.fetchone("SELECT scope_key, prompts FROM prompt_ideas WHERE id = ?", (idea_id,))
        return None if row is None else (row["scope_key"], list(json.loads(row["prompts"])))
