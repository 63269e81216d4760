"""A terminal adapter: the same core, for trying Atelier with nothing but an API key.

Reads commands from standard input (interactive or piped) while jobs run, so `/cancel` and Ctrl-C act at
once. Lines run one after another, in order, as a script expects (`/edit` works on the result of the
`/imagine` before it); `/cancel` jumps the queue. Ctrl-C stops what runs (an image job is cancelled and
refunded); pressed again while that is still stopping, or with nothing running, it quits."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from adapters.console.attachments import AttachmentError, split_attachments
from adapters.console.desk import ConsoleDesk
from adapters.console.lines import LineReader
from adapters.console.terminal import ConsoleReply, LastResult, Terminal, is_tty
from bot.command import Ask, Cancel, Command, Describe, Edit, GenerationParams, Imagine
from bot.core import Atelier
from bot.failures import SORRY
from bot.messages import (
    PAN_ACTIONS,
    REGION_ACTIONS,
    Action,
    Request,
    Scope,
    ScopeKind,
    User,
    image_ref,
    parse_image_ref,
)
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# The buttons under a result, typed: they act on the last result (`/u 2`, `/v 3`: one image of its grid).
BUTTONS = {
    "/reroll": Action.REROLL,
    "/vary": Action.VARY,
    "/u": Action.PICK,
    "/v": Action.VARY,
    "/region": Action.REGION,
    "/zoom": Action.ZOOM_2,
    "/pan": Action.PAN_LEFT,
}
VARY_STRENGTHS = {"": Action.VARY, "strong": Action.VARY, "subtle": Action.SUBTLE}
REGIONS = {where: action for action, where in REGION_ACTIONS.items()} | {"center": Action.REGION_CENTRE}
ZOOMS = {"": Action.ZOOM_2, "2": Action.ZOOM_2, "2x": Action.ZOOM_2, "1.5": Action.ZOOM_15, "1.5x": Action.ZOOM_15}
PANS = {direction: action for action, direction in PAN_ACTIONS.items()}
WHICH_IMAGE = "Say which image of the grid, e.g. `/u 2` or `/v 3`."
PICK_FIRST = "The last result is a grid: pick one image first with `/u N`, then use {command} on it."
REGION_USAGE = (
    "Usage: `/region left|right|top|bottom|centre <what to change there>`, e.g. `/region top make the sky red`."
)
ZOOM_USAGE = "Usage: `/zoom 2` or `/zoom 1.5` (how far to zoom out)."
PAN_USAGE = "Usage: `/pan left|right|up|down`."
NOTHING_YET = "Nothing to work from yet: make an image with /imagine first."
ASK_NO_IMAGE = (
    "Attach an image with @path, e.g. `/ask @photo.png what is this?`, or make one with /imagine first "
    "(/ask then asks about the last result)."
)
EDIT_NO_IMAGE = (
    "Attach an image with @path, e.g. `/edit @photo.png make it snowy`, or make one with /imagine first "
    "(/edit then changes the last result)."
)
DESCRIBE_NO_IMAGE = "Attach an image with @path, e.g. `/describe @photo.png`, or make one with /imagine first."
STOPPED = "Stopped."
STOP_SECONDS = 5.0  # quitting: how long a cancelled line may take to end
INTERRUPTED = 130  # the exit status of a program a Ctrl-C ended


@dataclass
class _Running:
    """The line being handled now."""

    task: asyncio.Task[None]
    reply: ConsoleReply
    stopping: bool = False
    interrupted: bool = False


@dataclass
class ConsoleSession:
    out_dir: Path
    user: User = field(default_factory=lambda: User("console", getpass.getuser(), getpass.getuser()))
    last: LastResult = field(default_factory=LastResult)

    @property
    def scope(self) -> Scope:
        return Scope("console", ScopeKind.PRIVATE, self.user.id)


class ConsoleAdapter:
    def __init__(
        self,
        core: Atelier,
        out_dir: Path,
        stdin: TextIO = sys.stdin,
        stdout: TextIO = sys.stdout,
    ) -> None:
        self._core = core
        self._session = ConsoleSession(out_dir)
        self._stdin = stdin
        self._terminal = Terminal(stdout, core.settings.console_progress_seconds)
        # The console user moderates their own scope: `/mod logchannel` makes the transcript its moderators' desk.
        core.attach_desk("console", ConsoleDesk(self._terminal, out_dir))
        # Someone typing at a terminal gets a greeting and a prompt; a script's transcript does not.
        self._interactive = self._terminal.is_tty and is_tty(stdin)
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._running: _Running | None = None
        self._quit = asyncio.Event()
        self._interrupts: set[asyncio.Task[None]] = set()

    def _request(self, images: list[bytes]) -> Request:
        return Request(
            user=self._session.user,
            scope=self._session.scope,
            conversation=f"console:{self._session.user.id}",
            images=images,
            is_admin=True,  # your own private scope; it may only lower the operator's limits
            origin=json.dumps({"console": self._session.user.id}),  # where `/mod logchannel` points
        )

    def _reply(self) -> ConsoleReply:
        return ConsoleReply(self._terminal, self._session.last, self._session.out_dir)

    async def run(self) -> int:
        """Until the end of input (0, once every line has run) or a Ctrl-C that quits (130)."""
        if self._interactive:
            self._terminal.line(
                "Atelier console. Type /help, a /command, or just chat. Ctrl-C stops a job, Ctrl-D quits."
            )
            self._terminal.prompt()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, self._on_interrupt)
        reader = LineReader(self._stdin)
        reading = asyncio.create_task(self._read(reader))
        working = asyncio.create_task(self._work())
        quitting = asyncio.create_task(self._quit.wait())
        try:
            await asyncio.wait([working, quitting], return_when=asyncio.FIRST_COMPLETED)
            if self._quit.is_set():
                await self._stop_running()
                return INTERRUPTED
            return 0
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)
            reader.close()
            await cancel_and_wait(reading, working, quitting, *self._interrupts)

    async def _read(self, reader: LineReader) -> None:
        """Takes lines as they come; only /cancel is handled at once, the rest wait their turn."""
        while (line := await reader.next_line()) is not None:
            if not line.strip():
                continue
            if isinstance(self._core.parse(line.strip()), Cancel):
                await self._cancel()
                self._prompt_if_idle()
            else:
                self._queue.put_nowait(line)
        self._queue.put_nowait(None)

    async def _work(self) -> None:
        while (line := await self._queue.get()) is not None:
            reply = self._reply()
            task = asyncio.create_task(self.handle_line(line, reply))
            self._running = _Running(task, reply)
            try:
                await asyncio.wait([task])
            finally:
                self._running = None
            if task.cancelled():
                self._terminal.line(STOPPED)
            elif task.exception() is not None:  # a bug, not the user's fault: say so and keep going
                log.error("console line failed", exc_info=task.exception())
                await reply.send_error(SORRY)
            self._prompt_if_idle()

    def _prompt_if_idle(self) -> None:
        if self._interactive and self._queue.empty() and self._running is None:
            self._terminal.prompt()

    async def _cancel(self) -> None:
        """`/cancel`, or the first Ctrl-C: stop what runs now. An image job goes through the core, which
        refunds it and says so; anything else (an answer streaming in) simply stops."""
        running = self._running
        if running is None or running.task.done():
            await self._core.run(Cancel(), self._request([]), self._reply())
            return
        await self._stop(running)

    async def _stop(self, running: _Running) -> None:
        """Stop the line once: cancelling a job again while it refunds would cut its refund short."""
        if running.stopping:
            return
        running.stopping = True
        if running.reply.job_id is not None:
            await self._core.run(Cancel(), self._request([]), running.reply)
        else:
            running.task.cancel()

    def _on_interrupt(self) -> None:
        running = self._running
        if running is None or running.task.done() or running.interrupted:
            self._quit.set()
            return
        running.interrupted = True  # a second Ctrl-C, even before this one is handled, quits
        self._terminal.line("Stopping… (Ctrl-C again quits)")
        task = asyncio.create_task(self._cancel())
        self._interrupts.add(task)
        task.add_done_callback(self._interrupts.discard)

    async def _stop_running(self) -> None:
        """Quitting: cancel (and so refund) what still runs, and wait until it has ended."""
        running = self._running
        if running is None or running.task.done():
            return
        await self._stop(running)
        await asyncio.wait([running.task], timeout=STOP_SECONDS)

    async def handle_line(self, line: str, reply: ConsoleReply | None = None) -> None:
        reply = reply or self._reply()
        try:
            text, attached = split_attachments(line.strip())
        except AttachmentError as exc:
            await reply.send_error(str(exc))
            return
        missing = attached.missing()
        if missing:
            await reply.send_error(f"No such file: {', '.join(str(p) for p in missing)}")
            return
        images, mask = await attached.read()
        word, _, argument = text.partition(" ")
        if word.lower() in BUTTONS:
            await self._button(word.lower(), argument.strip(), reply)
            return
        command = self._core.parse(text)
        idea = _idea_number(command)
        if idea is not None and self._session.last.ideas_id is not None:
            await self._core.imagine_idea(self._session.last.ideas_id, idea, self._request([]), reply)
            return
        if not images and isinstance(command, Edit | Ask | Describe):
            if self._session.last.image is None:
                missing_image = {Ask: ASK_NO_IMAGE, Describe: DESCRIBE_NO_IMAGE}.get(type(command), EDIT_NO_IMAGE)
                await reply.send_error(missing_image)
                return
            images = [self._session.last.image]  # as if replying to the last result
        request = self._request(images)
        request.mask = mask
        await self._core.run(command, request, reply)

    async def _button(self, word: str, argument: str, reply: ConsoleReply) -> None:
        last = self._session.last.job_id
        if last is None:
            await reply.send_error(NOTHING_YET)
            return
        action, ref = BUTTONS[word], last
        choice, _, instruction = argument.partition(" ")
        choice = choice.lower()
        if word in ("/region", "/zoom", "/pan"):
            if self._session.last.picks:
                await reply.send_error(PICK_FIRST.format(command=word))
                return
            table, usage = {"/region": (REGIONS, REGION_USAGE), "/zoom": (ZOOMS, ZOOM_USAGE)}.get(
                word, (PANS, PAN_USAGE)
            )
            if choice not in table or (word == "/region" and not instruction.strip()):
                await reply.send_error(usage)
                return
            await self._core.action(table[choice], last, self._request([]), reply, instruction=instruction.strip())
            return
        argument = argument.lower()
        if word in ("/u", "/v"):
            if not (argument.isdigit() and len(argument) == 1):
                await reply.send_error(WHICH_IMAGE)
                return
            ref = image_ref(parse_image_ref(last)[0], int(argument))
        elif word == "/vary":
            if argument not in VARY_STRENGTHS:
                await reply.send_error("`/vary` takes strong (the default) or subtle.")
                return
            action = VARY_STRENGTHS[argument]
        elif action == Action.REROLL:
            ref = parse_image_ref(last)[0]  # the whole job again, after a /u too
        await self._core.action(action, ref, self._request([]), reply)


def _idea_number(command: Command) -> int | None:
    """`/imagine 2` after `/describe`: the number of the idea, else None (a prompt of its own)."""
    if not isinstance(command, Imagine) or command.params != GenerationParams(command.params.prompt):
        return None
    prompt = command.params.prompt.strip()
    return int(prompt) if prompt.isdigit() and len(prompt) == 1 else None
