"""The caption under a result: the prompt, then what made it (the size the provider really returned,
the model, the seed), then notes on anything asked for that was not used."""

from __future__ import annotations

from bot.messages import ResultImage
from bot.providers.base import ImageJob, ModelInfo
from bot.sizes import format_size


def result_caption(job: ImageJob, model: ModelInfo, images: list[ResultImage], notes: list[str]) -> str:
    details = [size_text(job.size, images), model.qualified]
    if job.seed is not None:
        details.append(f"seed {job.seed}")
    if len(images) > 1:
        details.append(f"{len(images)} images")
    caption = f"{job.prompt}\n({' · '.join(details)})"
    if notes:
        caption += "\nNote: " + "; ".join(notes) + "."
    return caption


def size_text(asked: tuple[int, int], images: list[ResultImage]) -> str:
    """The size the images came back at, and the asked one when the provider chose another."""
    returned = list(dict.fromkeys(format_size((image.width, image.height)) for image in images))
    wanted = format_size(asked)
    if not returned or returned == [wanted]:
        return wanted
    return f"{', '.join(returned)} (asked {wanted})"


def dropped_inputs_note(used: int, given: int, model: ModelInfo) -> str:
    return f"used the first {used} of {given} images: {model.name} takes at most {used}"
