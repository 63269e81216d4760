"""Persistence: one database (SQLite, or PostgreSQL for several machines), a small repository per concern."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bot.clock import MONOTONIC, Clock
from bot.store.activity import ActivityStore
from bot.store.albums import AlbumStore
from bot.store.checkpoint import CHECKPOINT_EVERY_SECONDS
from bot.store.conversations import ConversationStore
from bot.store.db import Database, open_database
from bot.store.ideas import IdeaStore
from bot.store.instances import InstanceStore
from bot.store.jobs import JobStore
from bot.store.leases import LeaseStore
from bot.store.moderation import ModerationStore
from bot.store.quotas import QuotaStore
from bot.store.rates import RateStore
from bot.store.settings import ScopeSettingsStore


@dataclass
class Store:
    db: Database
    quotas: QuotaStore
    jobs: JobStore
    settings: ScopeSettingsStore
    conversations: ConversationStore
    instances: InstanceStore  # this Store's instance id and lease; the jobs it reserves are owned by it
    moderation: ModerationStore

    @classmethod
    async def open(
        cls,
        target: Path | str,
        *,
        history_messages: int = 40,
        clock: Clock = MONOTONIC,
        checkpoint_every: float | None = CHECKPOINT_EVERY_SECONDS,
    ) -> Store:
        """`target`: a SQLite file (a Path, a plain path or `sqlite:///path`) or a `postgres(ql)://` URL.
        `clock` is what the settings cache's expiry reads; `checkpoint_every` see SQLiteDatabase.open."""
        db = await open_database(target, checkpoint_every=checkpoint_every)
        instance_id = uuid.uuid4().hex
        return cls(
            db,
            QuotaStore(db, owner=instance_id),
            JobStore(db),
            ScopeSettingsStore(db, clock=clock),
            ConversationStore(db, history_messages),
            InstanceStore(db, instance_id),
            ModerationStore(db, clock=clock),
        )

    @cached_property
    def rates(self) -> RateStore:
        """Rate limits (GCRA rows), shared by every process on the database."""
        return RateStore(self.db)

    @cached_property
    def leases(self) -> LeaseStore:
        """Named leases (one Telegram poller per bot), shared by every process on the database."""
        return LeaseStore(self.db)

    @cached_property
    def ideas(self) -> IdeaStore:
        """`/describe`'s prompt ideas, behind their buttons."""
        return IdeaStore(self.db)

    @cached_property
    def albums(self) -> AlbumStore:
        """Album parts gathered across webhook workers."""
        return AlbumStore(self.db)

    @cached_property
    def activity(self) -> ActivityStore:
        """Who did what in a scope (image jobs, chat turns), for `/usage chart|top|export`."""
        return ActivityStore(self.db)

    @property
    def instance_id(self) -> str:
        return self.instances.instance_id

    async def close(self) -> None:
        await self.db.close()
