"""Flood control and injected failures: ``fail_next`` makes the next calls of a method answer 429
``retry_after`` (the default) or any other Bot API error; ``limit_chat_rate`` models Telegram's per-chat
message limit."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .models import ApiError, JSONDict
from .state import TelegramState


@dataclass
class _Failure:
    code: int
    description: str
    parameters: JSONDict | None


Clock = Callable[[], float]
# What counts against a chat's flood limit: messages and edits (not chat actions, not deletions).
COUNTED = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "editMessageText", "editMessageCaption"}
)


@dataclass
class _ChatLimit:
    per_window: int
    window: float
    groups_only: bool
    clock: Clock


class FloodControlMixin(TelegramState):
    """Queue failures per method and raise them for incoming calls; optionally a per-chat rate limit."""

    _failures: dict[str, list[_Failure]]
    _chat_limit: _ChatLimit | None
    _chat_sends: dict[int, list[float]]

    def fail_next(
        self,
        method: str,
        *,
        retry_after: int | None = None,
        error_code: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail; default is 429 flood control."""
        if retry_after is None and error_code is None:
            retry_after = 1
        if retry_after is not None:
            failure = _Failure(
                error_code or 429,
                description or f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        else:
            code = error_code or 400
            failure = _Failure(code, description or _default_description(code), None)
        name = self._method_names.get(method.lower(), method)
        self._failures.setdefault(name, []).extend([failure] * times)

    def limit_chat_rate(
        self, per_window: int = 20, window: float = 60.0, *, groups_only: bool = True, clock: Clock = time.monotonic
    ) -> None:
        """Model Telegram's per-chat flood limit (about 20 messages a minute in a group): a chat that already
        had ``per_window`` messages or edits in the last ``window`` seconds gets 429 with the whole seconds
        until one falls out of the window. ``groups_only=False`` limits private chats the same way."""
        self._chat_limit = _ChatLimit(per_window, window, groups_only, clock)

    def _raise_flooded(self, method: str, chat_id: object) -> None:
        limit = self._chat_limit
        if limit is None or method not in COUNTED or not isinstance(chat_id, int):
            return
        if limit.groups_only and chat_id > 0:
            return
        now = limit.clock()
        sent = [at for at in self._chat_sends.get(chat_id, []) if at > now - limit.window]
        if len(sent) >= limit.per_window:
            self._chat_sends[chat_id] = sent
            wait = max(1, math.ceil(sent[0] + limit.window - now))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        self._chat_sends[chat_id] = [*sent, now]

    def _raise_injected(self, method: str) -> None:
        queue = self._failures.get(method)
        if queue:
            failure = queue.pop(0)
            raise ApiError(failure.code, failure.description, failure.parameters)


def _default_description(code: int) -> str:
    return {
        400: "Bad Request",
        403: "Forbidden: bot was blocked by the user",
        409: "Conflict",
        500: "Internal Server Error",
        502: "Bad Gateway",
    }.get(code, "Error")
