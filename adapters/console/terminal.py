"""What the console prints: replies, streamed answers, result files, and a progress line for a running job.

On a terminal the progress is one line rewritten in place; piped, it is a plain line every few seconds
(of the job's own elapsed time), so a transcript stays readable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.messages import Action, Button, Delivery, Progress, Reply, ResultImage

_CLEAR_LINE = "\r\x1b[2K"
# A result a server would show behind a spoiler (Delivery.spoiler): the console saves it as usual, and says so.
FLAGGED = "flagged by moderation: chat platforms show this result behind a spoiler"


THINKING_TAIL = 60  # characters of the latest reasoning a TTY's progress line shows
# What to type for a button the console cannot show.
CONSOLE_BUTTONS = {Action.CHART: "/usage chart draws the last 30 days"}


@dataclass
class LastResult:
    """The console's "replied-to" message: what /edit, /ask, /reroll and /vary act on."""

    image: bytes | None = None
    job_id: str | None = None
    ideas_id: str | None = None  # the last /describe's ideas: `/imagine 2` imagines the second
    picks: int = 0  # the last result is a grid of this many (pick one with /u before /region, /zoom, /pan)


class Terminal:
    """The one writer to standard output, so a progress line is cleared before anything else appears."""

    def __init__(self, out: TextIO, progress_every: float) -> None:
        self._out = out
        self.is_tty = is_tty(out)
        self.progress_every = progress_every
        self._progress_shown = False

    def line(self, text: str) -> None:
        self.clear_progress()
        self._out.write(text + "\n")
        self._out.flush()

    def chunk(self, text: str) -> None:
        self.clear_progress()
        self._out.write(text)
        self._out.flush()

    def prompt(self) -> None:
        self.clear_progress()
        self._out.write("> ")
        self._out.flush()

    def show_progress(self, text: str) -> None:
        if self.is_tty:
            self._out.write(_CLEAR_LINE + text)
            self._progress_shown = True
        else:
            self._out.write(f"… {text}\n")
        self._out.flush()

    def clear_progress(self) -> None:
        if self._progress_shown:
            self._progress_shown = False
            self._out.write(_CLEAR_LINE)
            self._out.flush()


class ConsoleReply(Reply):
    """Answers one line. `job_id` is set while an image job of this line runs (for /cancel and Ctrl-C)."""

    def __init__(self, terminal: Terminal, last: LastResult, out_dir: Path) -> None:
        self._terminal = terminal
        self._last = last
        self._out_dir = out_dir
        self.job_id: str | None = None
        self._thinking_said = False
        self._shown_step = 0
        self._shown_queue: int | None = None

    async def send_text(self, text: str) -> None:
        self._terminal.line(text)

    async def send_error(self, text: str) -> None:
        self._terminal.line(f"! {text}")

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        parts = []
        try:
            async for chunk in chunks:
                parts.append(chunk)
                self._terminal.chunk(chunk)
        finally:
            if parts:
                self._terminal.chunk("\n")
        return "".join(parts)

    async def send_ideas(self, text: str, ideas_id: str, count: int) -> None:
        self._last.ideas_id = ideas_id
        self._terminal.line(f"{text}\n/imagine 1 to /imagine {count} makes one of them.")

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        typed = ", ".join(CONSOLE_BUTTONS[button.action] for button in buttons if button.action in CONSOLE_BUTTONS)
        self._terminal.line(f"{text}\n({typed})" if typed else text)

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        path = await asyncio.to_thread(_write_file, self._out_dir / name, data)
        self._terminal.line(f"{caption}\nsaved {path}" if caption else f"saved {path}")

    async def show_thinking(self, reasoning: str) -> None:
        """A TTY shows the latest reasoning on the progress line (gone when the answer begins); a pipe gets one
        "thinking…" line, never the reasoning."""
        if self._terminal.is_tty:
            tail = " ".join(reasoning.split())[-THINKING_TAIL:]
            self._terminal.show_progress(f"💭 thinking… {tail}")
        elif not self._thinking_said:
            self._thinking_said = True
            self._terminal.line("💭 thinking…")

    async def progress(self, update: Progress) -> None:
        self.job_id = update.job_id
        if self._terminal.is_tty:
            self._terminal.show_progress(update.describe())
            return
        # Piped: a line every `progress_every` seconds of the job, and when its place in a queue changes.
        step = int(update.elapsed_seconds // self._terminal.progress_every)
        moved = update.queue_position != self._shown_queue and update.queue_position is not None
        if step > self._shown_step or moved:
            self._shown_step, self._shown_queue = max(step, self._shown_step), update.queue_position
            self._terminal.show_progress(update.describe())

    async def clear_progress(self) -> None:
        self.job_id = None
        self._terminal.clear_progress()

    async def send_images(self, delivery: Delivery) -> None:
        await show_delivery(self._terminal, self._out_dir, delivery)
        self._last.image = delivery.images[0].data
        self._last.job_id = delivery.job_id
        self._last.picks = delivery.picks


async def show_delivery(terminal: Terminal, out_dir: Path, delivery: Delivery) -> None:
    """A result's caption, then its files as they are saved."""
    paths = await save_images(out_dir, delivery.job_id, delivery.images)
    terminal.line(delivery.caption)
    if delivery.spoiler:
        terminal.line(FLAGGED)
    for path in paths:
        terminal.line(f"saved {path}")
    if delivery.picks:
        terminal.line(f"a grid of {delivery.picks}: /u N posts image N alone, /v N varies it, /reroll makes new ones")
    elif Action.ZOOM_2 in delivery.actions:  # a model that takes masks: the outpainting buttons, typed
        terminal.line("also: /region <part> <change>, /zoom 2|1.5, /pan left|right|up|down")


async def save_images(out_dir: Path, stem: str, images: list[ResultImage]) -> list[Path]:
    """`<out>/<stem>-<n>.<ext>`, written off the event loop."""
    return await asyncio.to_thread(_write, out_dir, stem, images)


def _write(out_dir: Path, stem: str, images: list[ResultImage]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images):
        path = out_dir / f"{stem}-{index}.{image.extension}"
        path.write_bytes(image.data)
        paths.append(path)
    return paths


def _write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
