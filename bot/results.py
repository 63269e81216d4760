"""Result and input images kept on disk, so Vary/Edit/Reroll work after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from bot.messages import ResultImage


class ResultFiles:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _write(self, job_id: str, label: str, images: Sequence[bytes | ResultImage]) -> list[str]:
        self._directory.mkdir(parents=True, exist_ok=True)
        names = []
        for index, image in enumerate(images):
            data = image.data if isinstance(image, ResultImage) else image
            name = f"{job_id}-{label}{index}"
            (self._directory / name).write_bytes(data)
            names.append(name)
        return names

    async def save(self, job_id: str, label: str, images: Sequence[bytes | ResultImage]) -> list[str]:
        if not images:
            return []
        return await asyncio.to_thread(self._write, job_id, label, images)

    async def load(self, names: list[str]) -> list[bytes] | None:
        """The stored bytes, or None when any file has expired or gone."""

        def read() -> list[bytes] | None:
            paths = [self._directory / Path(name).name for name in names]
            if not all(path.is_file() for path in paths):
                return None
            return [path.read_bytes() for path in paths]

        return await asyncio.to_thread(read)

    async def delete(self, names: list[str]) -> None:
        def remove() -> None:
            for name in names:
                (self._directory / Path(name).name).unlink(missing_ok=True)

        await asyncio.to_thread(remove)

    async def keep(self, name: str, data: bytes) -> str:
        """Keep `data` under a content-derived `name` (the same name always holds the same bytes): written
        once, and its age renewed when kept again, so retention counts from the last use."""

        def write() -> None:
            path = self._directory / Path(name).name
            if path.is_file():
                path.touch()
                return
            self._directory.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".part")
            partial.write_bytes(data)
            partial.replace(path)  # never a half-written file under the real name

        await asyncio.to_thread(write)
        return Path(name).name

    async def load_each(self, names: list[str]) -> list[bytes | None]:
        """Each file's bytes, or None for one that has expired or gone (the others still load)."""

        def read() -> list[bytes | None]:
            paths = [self._directory / Path(name).name for name in names]
            return [path.read_bytes() if path.is_file() else None for path in paths]

        return await asyncio.to_thread(read)

    async def prune_prefixed(self, prefix: str, days: int) -> int:
        """Delete files named `prefix...` not kept (or kept again) for `days`. Returns how many went."""
        cutoff = time.time() - days * 86400

        def sweep() -> int:
            if not self._directory.is_dir():
                return 0
            gone = 0
            for path in self._directory.glob(f"{prefix}*"):
                with contextlib.suppress(FileNotFoundError):  # deleted meanwhile: nothing to do
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        gone += 1
            return gone

        return await asyncio.to_thread(sweep)
