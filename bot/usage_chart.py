"""The `/usage chart` picture, drawn with Pillow (already a dependency: no 40 MB plotting library for one bar
chart): images per UTC day stacked by model, the asker's own line over them, and the daily quota as a dashed
reference line. An opaque light background and the Okabe-Ito colour-blind-safe palette keep it readable on
Discord's dark and light themes alike. CPU-bound: callers run it in a thread (asyncio.to_thread)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1200, 600
BACKGROUND = (250, 250, 250)
INK = (33, 33, 33)
GRID = (222, 222, 222)
QUOTA_COLOUR = (192, 0, 0)
OWN_COLOUR = (33, 33, 33)
# Okabe-Ito, without its yellow (too faint on a light background); the rest of the models share grey.
PALETTE = [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (213, 94, 0)]
OTHER_COLOUR = (150, 150, 150)
OTHER = "other models"
# The plot area (left, top, right, bottom): margins for the title, the axes' labels and the legend.
PLOT_BOX = (80, 64, 940, 520)
LEGEND_X = 965
MODEL_CHARS = 26  # a legend entry's longest model name
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class ChartData:
    title: str
    days: list[str]  # UTC days, oldest first (`YYYY-MM-DD`)
    by_model: dict[str, list[int]]  # images per day of each model, in the order of `days`
    mine: list[int]  # the asker's images per day
    quota: int | None  # the daily quota the reference line marks; None: no line
    own_label: str = "You"


def render_chart(data: ChartData) -> bytes:
    """The chart as a 1200x600 PNG."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, font, big = (ImageFont.load_default(size=size) for size in (14, 16, 22))
    models = _legend_models(data.by_model)
    top = _axis_top(data, models)
    _axes(draw, data.days, top, small, font)
    _bars(draw, data, models, top)
    _own_line(draw, data.mine, top)
    if data.quota:
        _quota_line(draw, data.quota, top, small)
    draw.text((PLOT_BOX[0], 10), data.title, fill=INK, font=big)
    _legend(draw, models, data.own_label, data.quota, font)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def colour_of(index: int) -> tuple[int, int, int]:
    """The bar colour of the legend's `index`-th model (the colours a test looks for)."""
    return PALETTE[index] if index < len(PALETTE) else OTHER_COLOUR


def _legend_models(by_model: dict[str, list[int]]) -> dict[str, list[int]]:
    """The busiest models by name, the rest summed as one: a legend has room for six colours."""
    ranked = sorted(by_model.items(), key=lambda item: (-sum(item[1]), item[0]))
    shown = dict(ranked[: len(PALETTE)])
    rest = ranked[len(PALETTE) :]
    if rest:
        shown[OTHER] = [sum(day) for day in zip(*(counts for _, counts in rest), strict=True)]
    return shown


def _axis_top(data: ChartData, models: dict[str, list[int]]) -> int:
    """A round value above the tallest bar, the asker's line and the quota: 1, 2 or 5 times a power of ten."""
    totals = [sum(day) for day in zip(*models.values(), strict=True)] if models else []
    highest = max([*totals, *data.mine, data.quota or 0, 4])
    step = _step(highest)
    return (highest // step + 1) * step


def _step(highest: int) -> int:
    step = 1
    while True:
        for factor in (1, 2, 5):
            if highest / (step * factor) <= 5:
                return step * factor
        step *= 10


def _y(value: float, top: int) -> float:
    _, upper, _, bottom = PLOT_BOX
    return bottom - (bottom - upper) * value / top


def _slot(index: int, days: int) -> tuple[float, float]:
    """A day's bar: its left edge and width."""
    left, _, right, _ = PLOT_BOX
    width = (right - left) / max(days, 1)
    return left + index * width + width * 0.15, width * 0.7


def _axes(draw: ImageDraw.ImageDraw, days: list[str], top: int, small: Font, font: Font) -> None:
    left, upper, right, bottom = PLOT_BOX
    step = _step(top - 1)
    for value in range(0, top + 1, step):
        y = _y(value, top)
        draw.line([(left, y), (right, y)], fill=GRID, width=1)
        draw.text((left - 8, y), str(value), fill=INK, font=small, anchor="rm")
    draw.line([(left, upper), (left, bottom), (right, bottom)], fill=INK, width=2)
    for index, day in enumerate(days):
        if index % 5 == 0 or index == len(days) - 1:
            x, width = _slot(index, len(days))
            draw.text((x + width / 2, bottom + 8), day[5:], fill=INK, font=small, anchor="mt")
    draw.text(((left + right) / 2, bottom + 34), "UTC day (month-day)", fill=INK, font=font, anchor="mt")
    draw.text((left - 8, upper - 10), "images", fill=INK, font=small, anchor="rd")


def _bars(draw: ImageDraw.ImageDraw, data: ChartData, models: dict[str, list[int]], top: int) -> None:
    for index in range(len(data.days)):
        x, width = _slot(index, len(data.days))
        base = 0
        for number, counts in enumerate(models.values()):
            if counts[index]:
                upper, lower = _y(base + counts[index], top), _y(base, top)
                draw.rectangle([(x, upper), (x + width, lower)], fill=colour_of(number))
                base += counts[index]


def _own_line(draw: ImageDraw.ImageDraw, mine: list[int], top: int) -> None:
    points = []
    for index, value in enumerate(mine):
        x, width = _slot(index, len(mine))
        points.append((x + width / 2, _y(value, top)))
    if len(points) > 1:  # a light halo first, so the line stands out over dark bars too
        draw.line(points, fill=BACKGROUND, width=7, joint="curve")
        draw.line(points, fill=OWN_COLOUR, width=3, joint="curve")
    for x, y in points:
        draw.ellipse([(x - 4, y - 4), (x + 4, y + 4)], fill=OWN_COLOUR, outline=BACKGROUND)


def _dashed(draw: ImageDraw.ImageDraw, x0: float, x1: float, y: float, colour: tuple[int, int, int]) -> None:
    x = x0
    while x < x1:
        draw.line([(x, y), (min(x + 12, x1), y)], fill=colour, width=3)
        x += 20


def _quota_line(draw: ImageDraw.ImageDraw, quota: int, top: int, small: Font) -> None:
    left, _, right, _ = PLOT_BOX
    y = _y(quota, top)
    _dashed(draw, left, right, y, QUOTA_COLOUR)
    draw.text((right - 4, y - 6), f"quota {quota}/day", fill=QUOTA_COLOUR, font=small, anchor="rd")


def _legend(draw: ImageDraw.ImageDraw, models: dict[str, list[int]], own: str, quota: int | None, font: Font) -> None:
    y = PLOT_BOX[1]
    for number, name in enumerate(models):
        draw.rectangle([(LEGEND_X, y), (LEGEND_X + 18, y + 18)], fill=colour_of(number))
        shown = name if len(name) <= MODEL_CHARS else name[: MODEL_CHARS - 1] + "…"
        draw.text((LEGEND_X + 26, y + 9), shown, fill=INK, font=font, anchor="lm")
        y += 28
    y += 8
    draw.line([(LEGEND_X - 4, y + 9), (LEGEND_X + 20, y + 9)], fill=OWN_COLOUR, width=3)
    draw.ellipse([(LEGEND_X + 5, y + 5), (LEGEND_X + 13, y + 13)], fill=OWN_COLOUR)
    draw.text((LEGEND_X + 26, y + 9), own, fill=INK, font=font, anchor="lm")
    if quota:
        y += 28
        _dashed(draw, LEGEND_X - 4, LEGEND_X + 20, y + 9, QUOTA_COLOUR)
        draw.text((LEGEND_X + 26, y + 9), "daily quota", fill=INK, font=font, anchor="lm")
