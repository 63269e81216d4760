"""Result and input images kept on disk, so Vary/Edit/Reroll work after a restart."""

from __future__ import annotations

import asyncio
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
