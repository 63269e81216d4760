"""What a user is told when something fails: one place per service.

Providers raise errors with a plain, service-neutral sentence (`ProviderError.user_message`). An image
job is charged when it starts and refunded when it fails, so its failures say nothing was charged;
chat is never charged, so its failures never mention charging."""

from __future__ import annotations

from collections.abc import Iterable

from bot.delivery import DeliveryTimedOut
from bot.images import ImageRejected, ResultTooLarge
from bot.providers.base import AuthError, BalanceError, ContentRefused, ProviderError
from bot.redaction import redact

# Failures that trying again will not fix: the operator or the wording must change first.
_NOT_WORTH_RETRYING = (AuthError, BalanceError, ContentRefused)
# A Retry-After longer than this is worth telling the user: "try again" alone would mislead.
_WORTH_SAYING_SECONDS = 90.0
_STORED_CHARS = 500


def _described(exc: ProviderError, service: str) -> str:
    """The provider's own sentence, or, for a failure it could not name, which service failed."""
    if exc.user_message == ProviderError.user_message:
        return f"The {service} service failed."
    return exc.user_message


def wait_in_words(seconds: float) -> str:
    """`in about 24 hours`: how long a provider asked us to wait, as a person would say it."""
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return "in about a minute" if minutes == 1 else f"in about {minutes} minutes"
    hours = round(seconds / 3600)
    if hours <= 36:
        return "in about an hour" if hours == 1 else f"in about {hours} hours"
    return f"in about {round(seconds / 86400)} days"


def _try_again(exc: ProviderError) -> str:
    if exc.retry_after is not None and exc.retry_after > _WORTH_SAYING_SECONDS:
        return f"please try again {wait_in_words(exc.retry_after)}"
    return "please try again"


def image_failure(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The message for an image job that failed and was refunded."""
    if isinstance(exc, ProviderError):
        if isinstance(exc, _NOT_WORTH_RETRYING):
            text = f"{_described(exc, 'image')} Nothing was charged."
        else:
            text = f"{_described(exc, 'image')} Nothing was charged; {_try_again(exc)}."
        return redact(text, secrets)
    if isinstance(exc, DeliveryTimedOut):  # the chat's flood control outlasted DELIVERY_DEADLINE_SECONDS
        return exc.user_message
    if isinstance(exc, ResultTooLarge):
        return f"{exc} Nothing was charged."
    if isinstance(exc, ImageRejected):
        return "The provider sent back an image that could not be read. Nothing was charged; please try again."
    if isinstance(exc, TimeoutError):
        return "The image took too long. Nothing was charged; please try again."
    return "Something went wrong delivering this image. Nothing was charged; please try again."


def chat_failure(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The message for a chat or /ask answer that failed (chat costs no quota)."""
    if isinstance(exc, ProviderError):
        if isinstance(exc, _NOT_WORTH_RETRYING):
            return redact(_described(exc, "chat"), secrets)
        return redact(f"{_described(exc, 'chat')} {_try_again(exc).capitalize()}.", secrets)
    if isinstance(exc, TimeoutError):
        return "The answer took too long. Please try again."
    return "Something went wrong answering this. Please try again."


def failure_detail(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """What a failed job's row and the log keep: the operator's detail, every secret masked."""
    text = str(exc) if isinstance(exc, ProviderError | ImageRejected) else repr(exc)
    return redact(text, secrets)[:_STORED_CHARS]


CANCELLED = "Cancelled. Nothing was charged."
# An unexpected failure in an adapter: charged work is refunded by the job path, so no charge claim here.
SORRY = "Something went wrong on my side. Please try again."
