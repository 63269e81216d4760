"""Stopping helper tasks properly: cancel, then wait until they have really ended."""

from __future__ import annotations

import asyncio


async def cancel_and_wait(*tasks: asyncio.Future | None) -> None:
    """Cancel the tasks and wait for them to end. Their own outcome (cancelled, failed) is not raised
    here; a cancellation of the caller still is."""
    pending = [task for task in tasks if task is not None]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
