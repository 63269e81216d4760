"""Persistence: one SQLite database, a small repository per concern."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.store.conversations import ConversationStore
from bot.store.db import Database
from bot.store.jobs import JobStore
from bot.store.quotas import QuotaStore
from bot.store.settings import ScopeSettingsStore


@dataclass
class Store:
    db: Database
    quotas: QuotaStore
    jobs: JobStore
    settings: ScopeSettingsStore
    conversations: ConversationStore

    @classmethod
    async def open(cls, path: Path | str, *, history_messages: int = 40) -> Store:
        db = await Database.open(path)
        return cls(db, QuotaStore(db), JobStore(db), ScopeSettingsStore(db), ConversationStore(db, history_messages))

    async def close(self) -> None:
        await self.db.close()
