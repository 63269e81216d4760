"""Helper tasks: stopping them properly (cancel, then wait until they have really ended), and background
work an adapter waits for only when it stops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Future | None) -> None:
    """Cancel the tasks and wait for them to end. Their own outcome (cancelled, failed) is not raised
    here; a cancellation of the caller still is."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)


class Background:
    """Work an adapter must not wait for while it answers (removing a status message, joining a room), but
    waits for, bounded, when it stops. A failure is logged to the adapter's own `log` (where its secret
    filters are), headed `label`, with what `describe` says of it; never raised."""

    def __init__(self, log: logging.Logger, label: str, describe: Callable[[Exception], str] = str) -> None:
        self._log = log
        self._label = label
        self._describe = describe
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception as exc:
                self._log.warning("%s: %s failed: %s", self._label, what, self._describe(exc))

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
