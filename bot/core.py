"""Atelier's core: the services every adapter shares, and the dispatch of the text command form."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from bot.commands.actions import run_action
from bot.commands.chat import ask, chat
from bot.commands.edit import edit
from bot.commands.help import help_command, models_command
from bot.commands.imagine import imagine
from bot.commands.settings import settings as settings_command
from bot.commands.usage import usage
from bot.config import Settings
from bot.jobs import JobRunner
from bot.messages import Action, Reply, Request
from bot.parsing import split_command
from bot.providers.catalogue import Catalogue
from bot.providers.registry import build_catalogue, build_http_client
from bot.ratelimit import RateLimiter
from bot.results import ResultFiles
from bot.scope_limits import ScopeLimits
from bot.store import Store

log = logging.getLogger(__name__)

COMMANDS = ("imagine", "edit", "ask", "chat", "usage", "settings", "models", "cancel", "help", "start", "reset")


@dataclass
class Atelier:
    settings: Settings
    store: Store
    catalogue: Catalogue
    limiter: RateLimiter
    scope_limits: ScopeLimits
    runner: JobRunner
    http: httpx.AsyncClient | None = None
    housekeeping: asyncio.Task | None = None

    @classmethod
    async def start(cls, settings: Settings, catalogue: Catalogue | None = None) -> Atelier:
        """Open the store, refund jobs a crash left running, and build the configured providers."""
        store = await Store.open(settings.database_path, history_messages=settings.chat_history_turns * 2)
        refunded = await store.quotas.refund_abandoned()
        if refunded:
            log.warning("refunded %d job(s) interrupted by the last shutdown", refunded)
        http = None
        if catalogue is None:
            http = build_http_client(settings)
            catalogue = build_catalogue(settings, http)
        results = ResultFiles(settings.database_path.parent / "results")
        await prune_results(store, results, settings.result_retention_days)
        limiter = RateLimiter()
        scope_limits = ScopeLimits(settings, store.settings)
        runner = JobRunner(settings, store, catalogue, limiter, results, scope_limits)
        core = cls(settings, store, catalogue, limiter, scope_limits, runner, http)
        core.housekeeping = asyncio.create_task(_prune_periodically(store, results, settings.result_retention_days))
        return core

    async def close(self, drain_seconds: float = 10.0) -> None:
        if self.housekeeping is not None:
            self.housekeeping.cancel()
        await self.runner.drain(drain_seconds)
        await self.catalogue.aclose()
        if self.http is not None:
            await self.http.aclose()
        await self.store.close()

    async def handle_text(self, line: str, request: Request, reply: Reply) -> bool:
        """Run one line of the text form (`/imagine ...`, or plain text to chat)."""
        command = split_command(line)
        if command is None:
            request.text = line.strip()
            await chat(self, request, request.text, reply)
            return True
        if command.name not in COMMANDS:
            await reply.send_error(f"Unknown command /{command.name}. Try /help.")
            return True
        request.text = command.args
        await self.dispatch(command.name, request, reply)
        return True

    async def dispatch(self, name: str, request: Request, reply: Reply) -> None:
        args = request.text
        if name == "imagine":
            await imagine(self, request, args, reply)
        elif name == "edit":
            await edit(self, request, args, reply)
        elif name == "ask":
            await ask(self, request, args, reply)
        elif name == "chat":
            await chat(self, request, args, reply)
        elif name == "usage":
            await usage(self, request, reply)
        elif name == "settings":
            await settings_command(self, request, args, reply)
        elif name == "models":
            await models_command(self, reply)
        elif name == "cancel":
            await self.cancel(request, reply)
        elif name == "reset":
            await self.store.conversations.clear(request.conversation)
            await reply.send_text("Conversation cleared: I have forgotten what we said here.")
        else:
            await help_command(reply)

    async def cancel(self, request: Request, reply: Reply) -> None:
        if self.runner.cancel_for(request.scope.key, request.user.key) == 0:
            await reply.send_text("You have no running image job here.")

    async def action(
        self, action: Action, job_id: str, request: Request, reply: Reply, instruction: str | None = None
    ) -> str | None:
        return await run_action(self, action, job_id, request, reply, instruction)


PRUNE_EVERY_SECONDS = 6 * 3600


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
