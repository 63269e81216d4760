"""Reading what the bot did: recorded calls and raw requests, ``wait_for`` on calls (a condition, no polling),
and the current state / edit history of the messages the bot sent."""

from __future__ import annotations

import asyncio
import copy

from .models import Call, CallPredicate, JSONDict, RecordedRequest
from .state import TelegramState


class RecordingMixin(TelegramState):
    """Accessors and waits over the fake's records."""

    def calls(self, method: str | None = None) -> list[Call]:
        """All recorded calls (including failed ones, see ``Call.ok``), optionally of one method."""
        return [c for c in self._calls if method is None or c.method == method]

    def mark(self) -> int:
        """Current call count; pass as ``since=`` to ``wait_for`` to ignore earlier calls."""
        return len(self._calls)

    async def wait_for(
        self,
        match: str | CallPredicate,
        predicate: CallPredicate | None = None,
        *,
        timeout: float = 5.0,
        count: int = 1,
        since: int = 0,
    ) -> Call:
        """Wait until ``count`` calls match (method name and/or predicate); returns the ``count``-th."""
        checks: list[CallPredicate] = [predicate] if predicate else []
        if isinstance(match, str):
            checks.append(lambda c: c.method == match)
        else:
            checks.append(match)

        def hits() -> list[Call]:
            return [c for c in self._calls[since:] if all(check(c) for check in checks)]

        async def wait() -> Call:
            async with self._calls_cond:
                await self._calls_cond.wait_for(lambda: len(hits()) >= count)
                return hits()[count - 1]

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            seen = [f"{c.method}({c.status})" for c in self._calls[since:]]
            raise TimeoutError(f"no matching call after {timeout}s; calls: {seen}") from None

    def sent_messages(self, chat_id: int | None = None, *, include_deleted: bool = False) -> list[JSONDict]:
        """Current state of every message the bot sent, in send order."""
        return [
            copy.deepcopy(m.data)
            for (cid, _), m in self._messages.items()
            if m.from_bot and (chat_id is None or cid == chat_id) and (include_deleted or not m.deleted)
        ]

    def message(self, chat_id: int, message_id: int, *, include_deleted: bool = False) -> JSONDict | None:
        """Current (post-edit) Message dict, or None if unknown/deleted."""
        stored = self._messages.get((chat_id, message_id))
        if stored is None or (stored.deleted and not include_deleted):
            return None
        return copy.deepcopy(stored.data)

    def message_history(self, chat_id: int, message_id: int) -> list[JSONDict]:
        """Every version of a message, oldest first."""
        return copy.deepcopy(self._messages[(chat_id, message_id)].history)

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._requests)

    def requests_containing(self, text: str, *, in_path: bool = False) -> list[RecordedRequest]:
        """Requests whose query string, headers or body (and the URL path if ``in_path``) contain text."""
        return [r for r in self._requests if r.contains(text, in_path=in_path)]
