"""The files a job keeps on disk (its results, the images it was given, its mask), so Reroll, Vary and
Edit work after a restart and moderators can see or approve a result held back; and what its row says
of them."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.messages import ResultImage
from bot.results import ResultFiles
from bot.store import Store
from bot.store.jobs import JobStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SavedFiles:
    outputs: list[str]
    inputs: list[str]
    masks: list[str]

    def record(self, images: list[ResultImage]) -> dict:
        """What a finished job's row keeps: its files, for the buttons and for moderators."""
        sizes = [f"{image.width}x{image.height}" for image in images]
        return {"files": self.outputs, "inputs": self.inputs, "masks": self.masks, "sizes": sizes}


class KeptFiles:
    def __init__(self, store: Store, results: ResultFiles) -> None:
        self._store = store
        self._results = results

    async def save(
        self, job_id: str, results: list[ResultImage], inputs: list[bytes], mask: bytes | None
    ) -> SavedFiles:
        """Never raises: a full disk costs the buttons (they will say the result expired), not the image."""
        try:
            outputs = await self._results.save(job_id, "out", list(results))
            kept_inputs = await self._results.save(job_id, "in", inputs)
            masks = await self._results.save(job_id, "mask", [mask] if mask else [])
            return SavedFiles(outputs, kept_inputs, masks)
        except OSError as exc:
            log.warning("job %s: could not keep its images for the buttons: %s", job_id, exc)
            return SavedFiles([], [], [])

    async def results_of(self, job_id: str) -> list[bytes] | None:
        """A finished job's images, or None when it did not finish or they have expired."""
        record = await self._store.jobs.get(job_id)
        if record is None or record.status != JobStatus.DONE or not record.result:
            return None
        return await self._results.load(record.result.get("files", []))

    async def inputs_of(self, job_id: str) -> tuple[list[bytes], bytes | None]:
        """The images (and mask) a job was given."""
        record = await self._store.jobs.get(job_id)
        if record is None or not record.result:
            return [], None
        inputs = await self._results.load(record.result.get("inputs", [])) or []
        masks = await self._results.load(record.result.get("masks", [])) or []
        return inputs, masks[0] if masks else None
