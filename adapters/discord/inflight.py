"""Handlers still at work, so stopping can let them finish (an answer delivered, its history stored)
before the connection to Discord closes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class InFlight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def wait(self, timeout: float) -> int:
        """Wait up to `timeout` seconds; returns how many handlers were still running."""
        current = asyncio.current_task()
        pending = {task for task in self._tasks if not task.done() and task is not current}
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=timeout)
        return len(still)
