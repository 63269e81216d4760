"""The serving connection never checkpoints inside a statement (that fsync was the rate limit's p99); a
background connection does, so the WAL stays small however much is written."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.store import Store


async def write_rows(store: Store, start: int, count: int) -> None:
    for index in range(start, start + count):
        await store.rates.take(f"asker{index}", 60, 1000.0)


def wal_size(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_the_background_checkpoint_keeps_the_wal_small(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    store = await Store.open(path, checkpoint_every=0.02)
    try:
        assert (await store.db.fetchall("PRAGMA wal_autocheckpoint"))[0][0] == 0
        sizes = []
        for batch in range(4):
            await write_rows(store, batch * 1500, 1500)
            await asyncio.sleep(0.1)  # a few checkpoints happen
            sizes.append(wal_size(path))
        # Checkpointed, the WAL is started over: later batches reuse it instead of growing it.
        assert sizes[-1] <= sizes[0] * 1.5, sizes
    finally:
        await store.close()


async def test_without_the_background_checkpoint_statements_never_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "atelier.db"
    store = await Store.open(path, checkpoint_every=None)
    try:
        sizes = []
        for batch in range(3):
            await write_rows(store, batch * 1500, 1500)
            sizes.append(wal_size(path))
        # SQLite's own checkpoint (every 1000 pages, inside a commit) would have started the WAL over.
        assert sizes[0] < sizes[1] < sizes[2], sizes
    finally:
        await store.close()


async def test_processes_opening_a_new_file_at_the_same_moment_all_get_it(tmp_path: Path) -> None:
    """The switch to WAL answers "locked" without waiting: four opening a new file at once must all succeed."""
    for attempt in range(60):  # a race: before the fix about one attempt in ten lost it
        path = tmp_path / f"new-{attempt}.db"
        stores = await asyncio.gather(*(Store.open(path) for _ in range(4)), return_exceptions=True)
        opened = [store for store in stores if isinstance(store, Store)]
        for store in opened:
            await store.close()
        assert len(opened) == 4, [repr(store) for store in stores if not isinstance(store, Store)]
