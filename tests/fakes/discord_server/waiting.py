"""Waiting and reading records: ``wait_*`` helpers that block on the fake's change event (no polling),
``poll_until`` for conditions the fake cannot observe, and accessors over recorded requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .models import FakeInteraction, RecordedRequest
from .state import DiscordState

T = TypeVar("T")


class WaitingMixin(DiscordState):
    """Wait for requests, callbacks, follow-ups and messages; look up what the bot did."""

    async def wait_until(self, check: Callable[[], T | None], timeout: float = 5.0, *, what: str = "condition") -> T:
        """Return ``check()`` as soon as it is truthy; re-evaluated on every state change."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := check()):
                    await self._changed.wait()
                return result
        except TimeoutError:
            recent = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-15:])
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}; recent requests:\n  {recent}") from None

    async def wait_for(self, predicate: Callable[[RecordedRequest], bool], timeout: float = 5.0) -> RecordedRequest:
        """First recorded request (past or future) matching ``predicate``."""

        def check() -> RecordedRequest | None:
            return next((r for r in self.requests if predicate(r)), None)

        return await self.wait_until(check, timeout, what="a matching request")

    async def wait_for_request(self, method: str, route: str, timeout: float = 5.0, **params: Any) -> RecordedRequest:
        """First request with this method and route template (or path) whose URL params match."""
        return await self.wait_for(
            lambda r: (
                r.method == method.upper()
                and route in (r.route, r.path)
                and all(r.params.get(k) == str(v) for k, v in params.items())
            ),
            timeout,
        )

    async def wait_for_callback(self, interaction: FakeInteraction | int, timeout: float = 5.0) -> RecordedRequest:
        iid = interaction.id if isinstance(interaction, FakeInteraction) else interaction
        return await self.wait_until(lambda: self.callback_for(iid), timeout, what=f"callback of {iid}")

    async def wait_for_followup(
        self, interaction: FakeInteraction | str, count: int = 1, timeout: float = 5.0
    ) -> RecordedRequest:
        """The ``count``-th successful follow-up POST for an interaction."""

        def check() -> RecordedRequest | None:
            found = self.followups(interaction)
            return found[count - 1] if len(found) >= count else None

        return await self.wait_until(check, timeout, what=f"follow-up #{count}")

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """First (oldest) current message in the channel that matches ``predicate``."""
        return await self.wait_until(
            lambda: next((m for m in self.messages_in(channel_id) if predicate(m)), None),
            timeout,
            what=f"a message in {channel_id}",
        )

    @property
    def callbacks(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == "/interactions/{interaction_id}/{interaction_token}/callback"]

    def callback_for(self, interaction: FakeInteraction | int) -> RecordedRequest | None:
        iid = str(interaction.id if isinstance(interaction, FakeInteraction) else interaction)
        return next((r for r in self.callbacks if r.params["interaction_id"] == iid and r.status < 300), None)

    def followups(self, interaction: FakeInteraction | str) -> list[RecordedRequest]:
        token = interaction.token if isinstance(interaction, FakeInteraction) else interaction
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and r.route == "/webhooks/{webhook_id}/{webhook_token}"
            and r.params["webhook_token"] == token
            and r.status < 300
        ]

    def edits_of(self, message_id: int) -> list[RecordedRequest]:
        """Successful requests that edited the message (PATCH, UPDATE_MESSAGE callbacks, deferred fills)."""
        return [r for r in self.requests if r.message_id == int(message_id) and r.effect == "edit" and r.status < 300]

    def original_response(self, interaction: FakeInteraction | str) -> dict[str, Any] | None:
        inter = self._interaction_by_token(
            interaction.token if isinstance(interaction, FakeInteraction) else interaction
        )
        if inter is None or inter.original_message_id is None:
            return None
        return self.messages.get(inter.original_message_id)


async def poll_until(
    check: Callable[[], Awaitable[T]], timeout: float = 5.0, *, interval: float = 0.01, what: str = "condition"
) -> T:
    """Return ``await check()`` once truthy, re-checking every ``interval`` seconds until ``timeout``.

    Only for conditions no fake can signal (e.g. a database row the bot writes after answering); anything the
    fake records should use the ``wait_*`` methods, which wake on the fake's change event instead.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                if result := await check():
                    return result
                await asyncio.sleep(interval)
    except TimeoutError:
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}") from None
