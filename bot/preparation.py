"""Before anything is charged: a request checked against its model (prompt, input images, mask, size),
and turned into the provider's job. Extra input images are dropped and said so; an edit with no size
asked keeps its first image's shape."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.canvas import Box
from bot.captions import dropped_inputs_note
from bot.command import GenerationParams
from bot.config import Settings
from bot.images import ImageLimits, check_input_image
from bot.messages import Request
from bot.parsing import negative_prompt_ignored
from bot.providers.base import ImageJob, ImageProvider, ModelInfo
from bot.providers.catalogue import Catalogue
from bot.scope_limits import ScopeLimits
from bot.sizes import format_size, input_shape, size_for_input
from bot.store.jobs import JobKind

SUBTLE_STRENGTH, STRONG_STRENGTH = 0.35, 0.75
# Vary (Region), Zoom Out and Pan repaint what their mask opens almost from scratch (on models with a knob).
MASKED_STRENGTH = 0.9
SUBTLE_WORDING = (
    "A subtle variation of this image: keep its composition, subject, colours and style, change only small details."
)
STRONG_WORDING = "A clear variation of this image: same subject and style, a noticeably different composition."


class Refused(Exception):
    """A request we will not run; the message tells the user why and what would work."""


@dataclass
class JobSpec:
    kind: JobKind
    params: GenerationParams
    inputs: list[bytes] = field(default_factory=list)
    parent_id: str | None = None
    mask: bytes | None = None
    strength: float | None = None  # Vary (Subtle) / (Strong): how much the image may change, 0..1
    # Zoom Out and Pan: where the first input's kept pixels are, put back exactly into the result.
    keep: Box | None = None
    notes: list[str] = field(default_factory=list)  # what the caption says of the flow ("zoomed out 2x")


@dataclass
class Prepared:
    """A request checked against its model, ready to charge and run."""

    job: ImageJob
    provider: ImageProvider
    model: ModelInfo
    notes: list[str]
    # Said to the model before the prompt (a variation's strength, for models without a strength knob);
    # never stored or shown, so a variation of a variation does not repeat it.
    wording: str = ""
    keep: Box | None = None  # see JobSpec.keep


class Preparer:
    def __init__(
        self, settings: Settings, catalogue: Catalogue, scope_limits: ScopeLimits, image_limits: ImageLimits
    ) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._scope_limits = scope_limits
        self._image_limits = image_limits

    async def prepare(self, request: Request, spec: JobSpec) -> Prepared:
        params = spec.params
        if not params.prompt.strip():
            raise Refused("Please describe what you want, e.g. `/imagine a lighthouse at dusk`.")
        if len(params.prompt) > self._settings.max_prompt_chars:
            raise Refused(
                f"That prompt is {len(params.prompt):,} characters; the limit is "
                f"{self._settings.max_prompt_chars:,}. Please shorten it."
            )
        model_name = params.model or await self._scope_limits.default_model(request.scope)
        provider, model = self._catalogue.resolve_image_model(model_name)
        caps = model.capabilities
        if spec.kind == JobKind.BLEND and caps.max_input_images < len(spec.inputs):
            alternative = self._catalogue.suggest(image_to_image=True, mask=False, input_images=len(spec.inputs))
            takes = f"takes {caps.max_input_images} image{'s' if caps.max_input_images != 1 else ''}"
            raise Refused(
                f"{model.qualified} {takes}, so it cannot blend {len(spec.inputs)}."
                + (f" Try --model {alternative}." if alternative else " No model here takes that many.")
            )
        # More images than the model takes: the first ones are used, and the caption says so.
        taken = spec.inputs[: max(caps.max_input_images, 1)] if caps.image_to_image else spec.inputs
        inputs = [await check_input_image(data, self._image_limits) for data in taken]
        mask = await check_input_image(spec.mask, self._image_limits) if spec.mask else None
        if mask is not None and not inputs:
            raise Refused("A mask needs the image it applies to: attach or reply to that image too.")
        if mask is not None and not caps.mask:
            alternative = self._catalogue.suggest(image_to_image=True, mask=True, input_images=len(inputs))
            raise Refused(
                f"{model.qualified} cannot take a mask." + (f" Try --model {alternative}." if alternative else "")
            )
        if inputs and not caps.image_to_image:
            alternative = self._catalogue.suggest(image_to_image=True, mask=False, input_images=len(inputs))
            raise Refused(
                f"{model.qualified} cannot edit images." + (f" Try --model {alternative}." if alternative else "")
            )
        if not inputs and not caps.text_to_image:
            raise Refused(f"{model.qualified} only edits images: reply to an image, or pick another model.")
        size = params.size or input_size(inputs, self._settings, caps.sizes) or default_size(self._settings)
        if caps.sizes and format_size(size) not in caps.sizes:
            raise Refused(f"{model.qualified} offers sizes {', '.join(caps.sizes)}, not {format_size(size)}.")
        notes = list(spec.notes)
        if len(inputs) < len(spec.inputs):
            notes.append(dropped_inputs_note(len(inputs), len(spec.inputs), model))
        if params.seed is not None and not caps.seed:
            notes.append(f"{model.name} does not take a seed, so results will differ each time")
        if params.negative_prompt and not caps.negative_prompt:
            notes.append(negative_prompt_ignored(model.name, params.negative_prompt))
        # A grid for new prompts (and their rerolls); a variation or an edit is one image.
        count = 1
        if spec.kind in (JobKind.IMAGINE, JobKind.REROLL) and not inputs:
            count = params.count or await self._scope_limits.images_per_prompt(request.scope)
        job = ImageJob(
            count=count,
            prompt=params.prompt.strip(),
            size=size,
            model=model.name,
            seed=params.seed,
            negative_prompt=params.negative_prompt if caps.negative_prompt else None,
            images=inputs,
            mask=mask,
            queue_key=request.scope.key,
        )
        wording = ""
        if spec.strength is not None and inputs:
            if caps.strength:
                job.strength = spec.strength
            elif spec.kind == JobKind.VARY:  # a masked edit says what to paint in its own prompt
                wording = SUBTLE_WORDING if spec.strength < 0.5 else STRONG_WORDING
        return Prepared(job, provider, model, notes, wording, spec.keep)


def default_size(settings: Settings) -> tuple[int, int]:
    width, _, height = settings.default_size.lower().partition("x")
    return int(width), int(height)


def input_size(inputs: list[bytes], settings: Settings, model_sizes: tuple[str, ...] | None) -> tuple[int, int] | None:
    """An edit with no size asked keeps its first image's shape (read from the header alone)."""
    shape = input_shape(inputs[0]) if inputs else None
    if shape is None:
        return None
    return size_for_input(shape, settings.size_allow_list, model_sizes, prefer=default_size(settings))
