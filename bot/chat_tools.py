"""Tools the chat model may call: draw, edit, describe. Each runs through the same job path as `/imagine` and
`/edit` (validation, moderation, rate limit, quota, progress, delivery with buttons, commit or refund), and
the model gets back one line of text: what was made (with the image's ref, for a later edit) or why not,
in the words the user was shown. Arguments are the model's JSON: anything malformed is a tool error for
the model to correct, never a failure of the chat."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bot.command import GenerationParams
from bot.images import ImageRejected
from bot.messages import Delivery, Progress, Reply, Request
from bot.providers.base import ProviderError
from bot.providers.chat_stream import ToolCall
from bot.sizes import nearest_size, parse_ratio

GENERATE = "generate_image"
EDIT = "edit_image"
DESCRIBE = "describe_image"
ATTACHED = "attached"  # the ref of the image(s) the user's message carries
JOB_REF = "job:"  # the ref of an image Atelier made: job:<job id>
MAX_PROMPT_CHARS = 2000

TOOL_SPECS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": GENERATE,
            "description": "Make a new image from a text prompt and show it to the user. Use when they ask "
            "you to draw, paint, render or create a picture. Write a detailed prompt: subject, scene, style, "
            "lighting, camera, composition.",
            "parameters": {
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "What to draw, in detail."},
                    "aspect_ratio": {"type": "string", "description": "W:H, e.g. 1:1, 16:9, 9:16. Optional."},
                },
                "required": ["prompt"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": EDIT,
            "description": "Change an image and show the result, keeping its composition. image_ref is "
            f"'{ATTACHED}' for the image the user's message carries, or the ref a previous tool result "
            "gave (job:...).",
            "parameters": {
                "type": "object",
                "properties": {
                    "instruction": {"type": "string", "description": "What to change, e.g. 'make it night'."},
                    "image_ref": {"type": "string", "description": f"'{ATTACHED}' or job:<id>."},
                },
                "required": ["instruction", "image_ref"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": DESCRIBE,
            "description": "Look at an image and get a detailed description of it (subject, setting, style, "
            f"colours, composition, text). image_ref is '{ATTACHED}' or job:<id> from a tool result.",
            "parameters": {
                "type": "object",
                "properties": {"image_ref": {"type": "string", "description": f"'{ATTACHED}' or job:<id>."}},
                "required": ["image_ref"],
            },
        },
    },
]


class ToolArgumentError(ValueError):
    """The model's arguments do not fit the tool: said back to it so it can try again."""


@dataclass
class ToolOutcome:
    """What a call did: the text for the model, and the job id of an image made."""

    text: str
    job_id: str | None = None


@dataclass
class WatchingReply(Reply):
    """The user's reply, passed through, remembering what the job said went wrong (for the model)."""

    inner: Reply
    errors: list[str] = field(default_factory=list)

    async def send_text(self, text: str) -> None:
        await self.inner.send_text(text)

    async def send_error(self, text: str) -> None:
        self.errors.append(text)
        await self.inner.send_error(text)

    async def send_images(self, delivery: Delivery) -> str | None:
        return await self.inner.send_images(delivery)

    async def progress(self, update: Progress) -> None:
        await self.inner.progress(update)

    async def clear_progress(self) -> None:
        await self.inner.clear_progress()


Imagine = Callable[[Request, GenerationParams, Reply], Awaitable[str | None]]
EditJob = Callable[[str, str, Request, Reply], Awaitable[str | None]]  # job id, instruction
JobImages = Callable[[str, Request], Awaitable[list[bytes] | str]]  # a job's result images, or why not
Look = Callable[[bytes], Awaitable[str]]  # a description of one image (a vision call)


class ChatTools:
    """`imagine` runs an /imagine; `edit_attached` an /edit of the request's images; `edit_job` the Edit
    button of a result, which checks the job belongs to this chat; `job_images` a result's images (checked the
    same way); `look` describes an image."""

    def __init__(
        self,
        imagine: Imagine,
        edit_attached: Imagine,
        edit_job: EditJob,
        allowed_sizes: list[tuple[int, int]],
        job_images: JobImages,
        look: Look,
    ) -> None:
        self._imagine = imagine
        self._edit_attached = edit_attached
        self._edit_job = edit_job
        self._allowed_sizes = allowed_sizes
        self._job_images = job_images
        self._look = look

    async def run(self, call: ToolCall, request: Request, reply: Reply) -> ToolOutcome:
        try:
            arguments = _arguments(call)
            if call.name == GENERATE:
                return await self._generate(arguments, request, reply)
            if call.name == EDIT:
                return await self._edit(arguments, request, reply)
            if call.name == DESCRIBE:
                return await self._describe(arguments, request)
            raise ToolArgumentError(f"there is no tool called {call.name!r}; use {GENERATE}, {EDIT} or {DESCRIBE}")
        except ToolArgumentError as exc:
            return ToolOutcome(f"error: {exc}")

    async def _generate(self, arguments: dict[str, Any], request: Request, reply: Reply) -> ToolOutcome:
        prompt = _text(arguments, "prompt")
        size = None
        ratio = arguments.get("aspect_ratio")
        if ratio not in (None, ""):
            try:
                size = nearest_size(parse_ratio(str(ratio)), self._allowed_sizes)
            except ValueError as exc:
                raise ToolArgumentError(f"aspect_ratio: {exc}; use W:H such as 16:9") from None
        watching = WatchingReply(reply)
        # The image request stands on its own: not the chat message's images (an edit_image says so).
        job_id = await self._imagine(_without_images(request), GenerationParams(prompt, size=size), watching)
        return _outcome(job_id, watching, "image made")

    async def _edit(self, arguments: dict[str, Any], request: Request, reply: Reply) -> ToolOutcome:
        instruction = _text(arguments, "instruction")
        source = _image_ref(arguments, request)
        watching = WatchingReply(reply)
        if source is None:
            job_id = await self._edit_attached(request, GenerationParams(instruction), watching)
        else:
            job_id = await self._edit_job(source, instruction, request, watching)
        return _outcome(job_id, watching, "edited image made")

    async def _describe(self, arguments: dict[str, Any], request: Request) -> ToolOutcome:
        source = _image_ref(arguments, request)
        if source is None:
            image = request.images[0]
        else:
            found = await self._job_images(source, request)
            if isinstance(found, str):
                return ToolOutcome(f"error: {found}")
            image = found[0]
        try:
            return ToolOutcome(await self._look(image))
        except (ProviderError, ImageRejected, TimeoutError) as exc:
            return ToolOutcome(f"error: the image could not be looked at ({type(exc).__name__})")


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError as exc:
        raise ToolArgumentError(f"the arguments are not valid JSON ({exc.msg} at {exc.pos})") from None
    if not isinstance(arguments, dict):
        raise ToolArgumentError("the arguments must be a JSON object")
    return arguments


def _text(arguments: dict[str, Any], name: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolArgumentError(f"{name} is required and must be a non-empty string")
    if len(value) > MAX_PROMPT_CHARS:
        raise ToolArgumentError(f"{name} is {len(value)} characters; keep it under {MAX_PROMPT_CHARS}")
    return value.strip()


def _image_ref(arguments: dict[str, Any], request: Request) -> str | None:
    """The job id `image_ref` names, or None for the image the user's message carries."""
    ref = _text(arguments, "image_ref")
    if ref == ATTACHED:
        if not request.images:
            raise ToolArgumentError("the user's message carries no image; use a job:<id> ref from earlier")
        return None
    if ref.startswith(JOB_REF) and len(ref) > len(JOB_REF):
        return ref[len(JOB_REF) :]
    raise ToolArgumentError(f"image_ref must be '{ATTACHED}' or job:<id> from a tool result, not {ref!r}")


def _without_images(request: Request) -> Request:
    return replace(request, images=[], mask=None)


def _outcome(job_id: str | None, watching: WatchingReply, made: str) -> ToolOutcome:
    if job_id is not None:
        return ToolOutcome(
            f"{made} and shown to the user, with buttons; its image_ref is {JOB_REF}{job_id}. "
            "Do not repeat the image or a link to it; say a word about it if useful.",
            job_id,
        )
    said = " ".join(watching.errors) or "it was not made"
    return ToolOutcome(f"not made. The user was told: {said} Explain briefly; do not retry unless asked.")
