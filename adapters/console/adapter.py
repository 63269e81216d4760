"""A terminal adapter: the same core, for trying Atelier with nothing but an API key.

Reads commands from standard input (interactive or piped), prints replies, streams answers as
they arrive, and writes each result image under the output folder."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.command import Ask, Edit
from bot.core import Atelier
from bot.messages import Action, Delivery, Progress, Reply, Request, Scope, ScopeKind, User

# The buttons under a result, as console commands acting on the last one.
BUTTONS = {"/reroll": Action.REROLL, "/vary": Action.VARY}


@dataclass
class ConsoleSession:
    out_dir: Path
    user: User = field(default_factory=lambda: User("console", getpass.getuser(), getpass.getuser()))
    last_image: bytes | None = None
    last_job: str | None = None

    @property
    def scope(self) -> Scope:
        return Scope("console", ScopeKind.PRIVATE, self.user.id)


class ConsoleReply(Reply):
    def __init__(self, session: ConsoleSession, stdout: TextIO) -> None:
        self._session = session
        self._out = stdout
        self._last_percent: float | None = None

    def _print(self, text: str, end: str = "\n") -> None:
        self._out.write(text + end)
        self._out.flush()

    async def send_text(self, text: str) -> None:
        self._print(text)

    async def send_error(self, text: str) -> None:
        self._print(f"! {text}")

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        parts = []
        async for chunk in chunks:
            parts.append(chunk)
            self._print(chunk, end="")
        self._print("")
        return "".join(parts)

    async def progress(self, update: Progress) -> None:
        if update.percent is not None and update.percent != self._last_percent:
            self._last_percent = update.percent
            self._print(f"… {update.describe()}")

    async def send_images(self, delivery: Delivery) -> None:
        paths = await asyncio.to_thread(self._write, delivery)
        self._session.last_image = delivery.images[0].data
        self._session.last_job = delivery.job_id
        self._print(delivery.caption)
        for path in paths:
            self._print(f"saved {path}")

    def _write(self, delivery: Delivery) -> list[Path]:
        self._session.out_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, image in enumerate(delivery.images):
            path = self._session.out_dir / f"{delivery.job_id}-{index}.{image.extension}"
            path.write_bytes(image.data)
            paths.append(path)
        return paths


@dataclass
class Attachments:
    images: list[Path] = field(default_factory=list)
    mask: Path | None = None

    @property
    def paths(self) -> list[Path]:
        return [*self.images, *([self.mask] if self.mask else [])]


def _split_attachments(line: str) -> tuple[str, Attachments]:
    """`/edit @photo.png @mask:sky.png make the sky pink` -> ("/edit make the sky pink", photo.png + mask)."""
    words, attached = [], Attachments()
    for word in line.split(" "):
        if word.startswith("@mask:") and len(word) > 6:
            attached.mask = Path(word[6:]).expanduser()
        elif word.startswith("@") and len(word) > 1:
            attached.images.append(Path(word[1:]).expanduser())
        else:
            words.append(word)
    return " ".join(words), attached


async def _read_files(paths: list[Path]) -> list[bytes]:
    return [await asyncio.to_thread(path.read_bytes) for path in paths]


class ConsoleAdapter:
    def __init__(self, core: Atelier, out_dir: Path, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> None:
        self._core = core
        self._session = ConsoleSession(out_dir)
        self._stdin = stdin
        self._stdout = stdout

    def _request(self, images: list[bytes]) -> Request:
        return Request(
            user=self._session.user,
            scope=self._session.scope,
            conversation=f"console:{self._session.user.id}",
            images=images,
            is_admin=True,  # your own private scope; it may only lower the operator's limits
        )

    async def run(self) -> None:
        interactive = self._stdin.isatty()
        if interactive:
            self._stdout.write("Atelier console. Type /help, a /command, or just chat. Ctrl-D to quit.\n")
        while True:
            if interactive:
                self._stdout.write("> ")
                self._stdout.flush()
            line = await asyncio.to_thread(self._stdin.readline)
            if not line:
                return
            if line.strip():
                await self.handle_line(line.rstrip("\n"))

    async def handle_line(self, line: str) -> None:
        reply = ConsoleReply(self._session, self._stdout)
        text, attached = _split_attachments(line.strip())
        missing = [str(p) for p in attached.paths if not p.is_file()]
        if missing:
            await reply.send_error(f"No such file: {', '.join(missing)}")
            return
        images = await _read_files(attached.images)
        mask = (await _read_files([attached.mask]))[0] if attached.mask else None
        button = BUTTONS.get(text.split(" ", 1)[0].lower())
        if button is not None:
            await self._button(button, reply)
            return
        command = self._core.parse(text)
        if not images and isinstance(command, Edit | Ask) and self._session.last_image is not None:
            images = [self._session.last_image]  # as if replying to the last result
        request = self._request(images)
        request.mask = mask
        await self._core.run(command, request, reply)

    async def _button(self, action: Action, reply: ConsoleReply) -> None:
        if self._session.last_job is None:
            await reply.send_error("Nothing to work from yet: make an image with /imagine first.")
            return
        await self._core.action(action, self._session.last_job, self._request([]), reply)
