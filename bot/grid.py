"""A grid of a prompt's images (2x1 or 2x2) as one picture, as Midjourney shows them: U/V buttons pick one."""

from __future__ import annotations

import io

from PIL import Image

# JPEG: a 2048x2048 grid encodes in tens of milliseconds and a few hundred KB; a PNG of it takes far longer
# and megabytes. The grid is only a preview: U1-U4 post each image as the provider made it.
GRID_QUALITY = 90


def grid_layout(count: int) -> tuple[int, int]:
    """Columns and rows for `count` images."""
    if not 1 <= count <= 4:
        raise ValueError(f"a grid holds 1 to 4 images, not {count}")
    return {1: (1, 1), 2: (2, 1)}.get(count, (2, 2))


def compose_grid(images: list[bytes]) -> tuple[bytes, str, int, int]:
    """The grid (data, mime, width, height): cells the size of the first image, others fitted to their cell."""
    columns, rows = grid_layout(len(images))
    with Image.open(io.BytesIO(images[0])) as first:
        cell = first.size
    grid = Image.new("RGB", (cell[0] * columns, cell[1] * rows))
    for index, data in enumerate(images):
        with Image.open(io.BytesIO(data)) as image:
            picture = image.convert("RGB")
        picture.thumbnail(cell)  # a larger image shrinks into its cell, keeping its shape
        x = (index % columns) * cell[0] + (cell[0] - picture.width) // 2
        y = (index // columns) * cell[1] + (cell[1] - picture.height) // 2
        grid.paste(picture, (x, y))
    out = io.BytesIO()
    grid.save(out, "JPEG", quality=GRID_QUALITY)
    return out.getvalue(), "image/jpeg", grid.width, grid.height
