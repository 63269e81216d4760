"""Atelier's core: the one door every adapter uses. An adapter builds a typed command (bot.command)
and calls `run`, or calls the typed method for it directly; both reach the same code."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from bot.command import (
    Ask,
    Cancel,
    ChangeSettings,
    Chat,
    Command,
    Edit,
    GenerationParams,
    Help,
    Imagine,
    Invalid,
    Models,
    Reset,
    Usage,
)
from bot.commands.actions import Buttons
from bot.commands.chat import ChatCommands
from bot.commands.edit import edit
from bot.commands.help import HELP, models_text
from bot.commands.settings import SettingsCommand
from bot.commands.usage import usage
from bot.config import Settings
from bot.images import ImageLimits
from bot.jobs import JobRunner, JobSpec
from bot.messages import Action, Reply, Request
from bot.parsing import parse_line
from bot.providers.catalogue import Catalogue
from bot.providers.registry import build_catalogue, build_http_client
from bot.ratelimit import RateLimiter
from bot.results import ResultFiles
from bot.scope_limits import ScopeLimits
from bot.store import Store
from bot.store.jobs import JobKind
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 6 * 3600
NO_RUNNING_JOB = "You have no running image job here."

Handler = Callable[[Any, Request, Reply], Awaitable[object]]


@dataclass
class Atelier:
    settings: Settings
    store: Store
    catalogue: Catalogue
    runner: JobRunner
    _chat: ChatCommands
    _settings_command: SettingsCommand
    _buttons: Buttons
    _scope_limits: ScopeLimits
    _resources: AsyncExitStack
    _handlers: dict[type, Handler] = field(init=False)

    def __post_init__(self) -> None:
        # The dispatch table: one entry per command type.
        self._handlers = {
            Imagine: lambda c, request, reply: self.imagine(request, c.params, reply),
            Edit: lambda c, request, reply: self.edit(request, c.params, reply),
            Ask: lambda c, request, reply: self.ask(request, c.question, reply),
            Chat: lambda c, request, reply: self.chat(request, c.text, reply),
            Usage: lambda _c, request, reply: self.usage(request, reply),
            ChangeSettings: lambda c, request, reply: self.change_settings(request, c, reply),
            Models: lambda _c, _request, reply: self.models(reply),
            Cancel: lambda _c, request, reply: self.cancel(request, reply),
            Reset: lambda _c, request, reply: self.reset(request, reply),
            Help: lambda _c, _request, reply: self.help(reply),
            Invalid: lambda c, _request, reply: reply.send_error(c.reason),
        }

    @classmethod
    async def start(cls, settings: Settings, catalogue: Catalogue | None = None) -> Atelier:
        """Open the store, refund jobs a crash left running, and build the configured providers.
        Whatever was opened is closed again if a later step fails."""
        async with AsyncExitStack() as stack:
            store = await Store.open(settings.database_path, history_messages=settings.chat_history_turns * 2)
            stack.push_async_callback(store.close)
            refunded = await store.quotas.refund_abandoned()
            if refunded:
                log.warning("refunded %d job(s) interrupted by the last shutdown", refunded)
            if catalogue is None:
                http = build_http_client(settings)
                stack.push_async_callback(http.aclose)
                catalogue = build_catalogue(settings, http)
            stack.push_async_callback(catalogue.aclose)
            results = ResultFiles(settings.database_path.parent / "results")
            await prune_results(store, results, settings.result_retention_days)
            housekeeping = asyncio.create_task(_prune_periodically(store, results, settings.result_retention_days))
            stack.push_async_callback(cancel_and_wait, housekeeping)
            core = cls._wire(settings, store, catalogue, results, stack.pop_all())
        return core

    @classmethod
    def _wire(
        cls, settings: Settings, store: Store, catalogue: Catalogue, results: ResultFiles, resources: AsyncExitStack
    ) -> Atelier:
        limiter = RateLimiter()
        image_limits = ImageLimits.from_settings(settings)
        scope_limits = ScopeLimits(settings, store.settings)
        runner = JobRunner(settings, store, catalogue, limiter, results, scope_limits, image_limits)
        chat = ChatCommands(settings, catalogue, store.conversations, limiter, scope_limits, image_limits)
        return cls(
            settings=settings,
            store=store,
            catalogue=catalogue,
            runner=runner,
            _chat=chat,
            _settings_command=SettingsCommand(scope_limits, store.settings, catalogue),
            _buttons=Buttons(runner, store.jobs),
            _scope_limits=scope_limits,
            _resources=resources,
        )

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Let running jobs finish (or cancel and refund them after `drain_seconds`), then close
        everything `start` opened, in reverse order."""
        await self.runner.drain(drain_seconds)
        await self._resources.aclose()

    # ------------------------------------------------------------------------------- the door

    async def run(self, command: Command, request: Request, reply: Reply) -> None:
        """Run one typed command."""
        await self._handlers[type(command)](command, request, reply)

    def parse(self, line: str) -> Command:
        """The text form (`/imagine a cat --ar 16:9`, or plain text to chat), as the console and Telegram
        take it."""
        return parse_line(line, self.settings.size_allow_list)

    async def imagine(self, request: Request, params: GenerationParams, reply: Reply) -> str | None:
        """Returns the job id when images were delivered."""
        return await self.runner.run(request, JobSpec(JobKind.IMAGINE, params), reply)

    async def edit(self, request: Request, params: GenerationParams, reply: Reply) -> str | None:
        """Edits the request's images (with its mask, if any). Returns the job id when delivered."""
        return await edit(self.runner, request, params, reply)

    async def ask(self, request: Request, question: str, reply: Reply) -> bool:
        """Returns True when an answer was given and stored."""
        return await self._chat.ask(request, question, reply)

    async def chat(self, request: Request, text: str, reply: Reply) -> bool:
        """Returns True when an answer was given and stored."""
        return await self._chat.chat(request, text, reply)

    async def usage(self, request: Request, reply: Reply) -> None:
        await usage(self._scope_limits, self.store.quotas, request, reply)

    async def change_settings(self, request: Request, change: ChangeSettings, reply: Reply) -> None:
        await self._settings_command.run(request, change, reply)

    async def models(self, reply: Reply) -> None:
        await reply.send_text(models_text(self.catalogue))

    async def help(self, reply: Reply) -> None:
        await reply.send_text(HELP)

    async def cancel(self, request: Request, reply: Reply) -> None:
        if self.runner.cancel_for(request.scope.key, request.user.key) == 0:
            await reply.send_text(NO_RUNNING_JOB)

    async def reset(self, request: Request, reply: Reply) -> None:
        await self._chat.reset(request, reply)

    async def action(
        self, action: Action, job_id: str, request: Request, reply: Reply, instruction: str | None = None
    ) -> str | None:
        """A button under a result. Returns the new job's id when one delivered."""
        return await self._buttons.press(action, job_id, request, reply, instruction)


async def prune_results(store: Store, results: ResultFiles, days: int) -> int:
    """Delete image files kept for buttons past their retention. Returns how many jobs lost theirs."""
    expired = await store.jobs.expired_result_files(days)
    if expired:
        await results.delete([name for _, names in expired for name in names])
        await store.jobs.forget_result_files([job_id for job_id, _ in expired])
    return len(expired)


async def _prune_periodically(store: Store, results: ResultFiles, days: int) -> None:
    """A bot that runs for weeks must not fill its disk between restarts."""
    while True:
        await asyncio.sleep(PRUNE_EVERY_SECONDS)
        try:
            await prune_results(store, results, days)
        except Exception as exc:  # the next round tries again; the bot keeps serving
            log.warning("could not prune old result images: %r", exc)
