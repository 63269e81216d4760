"""What a user is told when something fails: one place per service.

Providers raise errors with a plain, service-neutral sentence (`ProviderError.user_message`). An image
job is charged when it starts and refunded when it fails, so its failures say nothing was charged;
chat is never charged, so its failures never mention charging."""

from __future__ import annotations

from bot.images import ImageRejected
from bot.providers.base import AuthError, BalanceError, ContentRefused, ProviderError

# Failures that trying again will not fix: the operator or the wording must change first.
_NOT_WORTH_RETRYING = (AuthError, BalanceError, ContentRefused)


def _described(exc: ProviderError, service: str) -> str:
    """The provider's own sentence, or, for a failure it could not name, which service failed."""
    if exc.user_message == ProviderError.user_message:
        return f"The {service} service failed."
    return exc.user_message


def image_failure(exc: BaseException) -> str:
    """The message for an image job that failed and was refunded."""
    if isinstance(exc, ProviderError):
        if isinstance(exc, _NOT_WORTH_RETRYING):
            return f"{_described(exc, 'image')} Nothing was charged."
        return f"{_described(exc, 'image')} Nothing was charged; please try again."
    if isinstance(exc, ImageRejected):
        return "The provider sent back an image that could not be read. Nothing was charged; please try again."
    if isinstance(exc, TimeoutError):
        return "The image took too long. Nothing was charged; please try again."
    return "Something went wrong delivering this image. Nothing was charged; please try again."


def chat_failure(exc: BaseException) -> str:
    """The message for a chat or /ask answer that failed (chat costs no quota)."""
    if isinstance(exc, ProviderError):
        if isinstance(exc, _NOT_WORTH_RETRYING):
            return _described(exc, "chat")
        return f"{_described(exc, 'chat')} Please try again."
    if isinstance(exc, TimeoutError):
        return "The answer took too long. Please try again."
    return "Something went wrong answering this. Please try again."


CANCELLED = "Cancelled. Nothing was charged."
# An unexpected failure in an adapter: charged work is refunded by the job path, so no charge claim here.
SORRY = "Something went wrong on my side. Please try again."
