"""Flood control and injected failures: ``fail_next`` makes the next calls of a method answer 429
``retry_after`` (the default) or any other Bot API error."""

from __future__ import annotations

from dataclasses import dataclass

from .models import ApiError, JSONDict
from .state import TelegramState


@dataclass
class _Failure:
    code: int
    description: str
    parameters: JSONDict | None


class FloodControlMixin(TelegramState):
    """Queue failures per method and raise them for incoming calls."""

    _failures: dict[str, list[_Failure]]

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
