"""Delivery has a deadline: a platform that keeps asking us to wait (flood control) must not keep a paid
job "running" for ever. Past DELIVERY_DEADLINE_SECONDS the upload is stopped and the job refunded."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from bot.clock import Clock
from bot.tasks import cancel_and_wait

T = TypeVar("T")


class DeliveryTimedOut(Exception):
    """The platform did not take the finished images before the delivery deadline."""

    user_message = (
        "The image was ready, but the chat would not take it in time (it asked me to wait too long). "
        "Nothing was charged; please try again in a while."
    )


async def deliver_within(clock: Clock, seconds: float, upload: Awaitable[T]) -> T:
    """Await `upload`, stopping it (and awaiting its end) when `seconds` pass on `clock` first."""
    work = asyncio.ensure_future(upload)
    deadline = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({work, deadline}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # Our own cancellation, or a deadline that passed: neither task outlives this call.
        if not work.done():
            await cancel_and_wait(work, deadline)
        else:
            await cancel_and_wait(deadline)
    if work.cancelled() and deadline.done() and not deadline.cancelled():
        raise DeliveryTimedOut(f"not delivered within {seconds:g}s")
    return work.result()
