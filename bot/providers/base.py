"""The two small protocols every upstream implements, and the errors they may raise."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.providers.chat_stream import ChatEvent


@dataclass(frozen=True)
class Capabilities:
    text_to_image: bool = True
    image_to_image: bool = False
    mask: bool = False
    max_input_images: int = 0
    # Exact sizes the model takes; None means any allowed size. Ratio-only models list ratios instead.
    sizes: tuple[str, ...] | None = None
    aspect_ratios: tuple[str, ...] | None = None
    max_images: int = 1
    seed: bool = False
    negative_prompt: bool = False
    progress: bool = False
    # Takes how much an image-to-image may change (A1111 denoising); others get Vary's strength as wording.
    strength: bool = False

    def describe(self) -> str:
        abilities = []
        if self.text_to_image:
            abilities.append("text-to-image")
        if self.image_to_image:
            abilities.append("image-to-image")
        if self.mask:
            abilities.append("mask")
        if self.max_input_images > 1:
            abilities.append(f"up to {self.max_input_images} reference images")
        if self.seed:
            abilities.append("seed")
        if self.negative_prompt:
            abilities.append("negative prompt")
        if self.max_images > 1:
            abilities.append(f"{self.max_images} images per request")
        if self.strength:
            abilities.append("vary strength")
        if self.aspect_ratios:
            abilities.append("ratios " + ", ".join(self.aspect_ratios))
        elif self.sizes:
            abilities.append("sizes " + ", ".join(self.sizes))
        return ", ".join(abilities)


@dataclass(frozen=True)
class ModelInfo:
    provider: str
    name: str
    capabilities: Capabilities
    description: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.provider}:{self.name}"


@dataclass
class ImageJob:
    """What the core asks an image provider for; inputs are already checked image bytes."""

    prompt: str
    size: tuple[int, int]
    model: str
    seed: int | None = None
    negative_prompt: str | None = None
    images: list[bytes] = field(default_factory=list)
    mask: bytes | None = None
    count: int = 1
    # How much an image-to-image may change, 0..1 (Vary Subtle / Strong); None: the provider's default.
    strength: float | None = None
    # A stable key per job so a retried submit is never paid twice (providers that support it).
    idempotency_key: str = ""
    # Who asked (the server or chat's scope key): waiting jobs are served round-robin across these.
    queue_key: str = ""


@dataclass
class ProviderProgress:
    percent: float | None = None
    queue_position: int | None = None
    stage: str = "working"


ProgressCallback = Callable[[ProviderProgress], Awaitable[None]]


@dataclass
class ChatMessage:
    role: str  # system | user | assistant | tool
    text: str
    images: list[str] = field(default_factory=list)  # data URIs or public URLs
    # An assistant turn that called tools: each {"id", "type": "function", "function": {"name", "arguments"}}.
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    tool_call_id: str | None = None  # a tool turn: the call it answers

    def to_openai(self) -> dict[str, Any]:
        if self.tool_call_id is not None:
            return {"role": "tool", "tool_call_id": self.tool_call_id, "content": self.text}
        if self.tool_calls:
            return {"role": self.role, "content": self.text or None, "tool_calls": self.tool_calls}
        if not self.images:
            return {"role": self.role, "content": self.text}
        blocks: list[dict[str, Any]] = [{"type": "text", "text": self.text}]
        blocks += [{"type": "image_url", "image_url": {"url": url}} for url in self.images]
        return {"role": self.role, "content": blocks}


class Provider(Protocol):
    """What every upstream shares, images or chat: a name and a way to let go of its resources."""

    name: str

    async def aclose(self) -> None: ...


class ImageProvider(Provider, Protocol):
    def models(self) -> list[ModelInfo]: ...

    async def generate(self, job: ImageJob, progress: ProgressCallback) -> list[bytes]: ...


@dataclass(frozen=True)
class ChatOptions:
    """What a chat request asks for beyond the messages."""

    tools: list[dict[str, Any]] = field(default_factory=list)  # OpenAI function tools; none: not offered
    thinking: bool = False  # Agnes/vLLM `chat_template_kwargs.enable_thinking`


class ChatProvider(Provider, Protocol):
    def stream_events(
        self, messages: list[ChatMessage], model: str, options: ChatOptions | None = None
    ) -> AsyncIterator[ChatEvent]:
        """bot.providers.chat_stream events: TextDelta, ReasoningDelta, ToolCall, then Finished."""
        ...


class ProviderError(Exception):
    """An upstream failure. `user_message` is one or two plain sentences a user can read, naming neither
    the kind of service nor charging: the core adds those and the ending (bot/failures.py)."""

    user_message = "The provider failed."
    # Seconds the provider asked us to wait (Retry-After) before trying again, when it said.
    retry_after: float | None = None

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message:
            self.user_message = user_message


def because(lead: str, reason: str, limit: int = 200) -> str:
    """`lead: reason.` as one sentence, however the provider's reason ends."""
    return f"{lead}: {reason[:limit].strip().rstrip('.!?;:')}."


class AuthError(ProviderError):
    user_message = "The bot's API key was rejected by the provider. Please tell the bot's operator."


class BalanceError(ProviderError):
    user_message = "The provider account is out of credit. Please tell the bot's operator."


class ContentRefused(ProviderError):
    user_message = "The provider refused this request under its content policy. Try rewording it."


class Overloaded(ProviderError):
    user_message = "The provider is busy right now."


class UpstreamTimeout(ProviderError):
    user_message = "The provider took too long to answer."


class Unreachable(ProviderError):
    """No connection could be made (refused, DNS failure, no answer to connect): the request never left."""

    user_message = "The provider could not be reached. If this keeps happening, please tell the bot's operator."


class ConnectionLost(ProviderError):
    user_message = "The connection to the provider broke off."


class AnswerTooLarge(ProviderError):
    user_message = "The provider sent back far more data than expected, so the answer was stopped."


class BadResult(ProviderError):
    user_message = "The provider sent back something that is not a usable image."


class TaskExpired(ProviderError):
    user_message = "The provider lost track of this job (it expired)."
