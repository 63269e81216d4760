"""Atelier's core: the one door every adapter uses. An adapter builds a typed command (bot.command)
and calls `run`, or calls the typed method for it directly; both reach the same code."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from bot.chat_tools import ChatTools
from bot.clock import Clock
from bot.command import (
    Ask,
    Blend,
    Cancel,
    ChangeSettings,
    Chat,
    Command,
    Describe,
    Edit,
    GenerationParams,
    Help,
    Imagine,
    Info,
    Invalid,
    Models,
    Moderate,
    Reset,
    Usage,
    UsageReport,
)
from bot.commands.actions import Buttons
from bot.commands.blend import blend
from bot.commands.chat import ChatCommands
from bot.commands.describe import DescribeCommand
from bot.commands.edit import edit
from bot.commands.help import help_for, models_text
from bot.commands.info import info
from bot.commands.moderation import ModCommand
from bot.commands.settings import SettingsCommand
from bot.commands.usage import usage
from bot.commands.usage_reports import UsageReports
from bot.config import Settings
from bot.conversation_images import ConversationImages
from bot.housekeeping import prune
from bot.images import ImageLimits
from bot.jobs import JobRunner, JobSpec
from bot.lease import WALL, Lease
from bot.messages import Action, Reply, Request, parse_idea_ref
from bot.metrics import Metrics
from bot.moderation.actions import ModeratorActions
from bot.moderation.classifier import Classifier
from bot.moderation.desk import Desk, ModVerb
from bot.moderation.desks import ModeratorDesks
from bot.moderation.gate import Moderation
from bot.moderation.review import ReviewQueue
from bot.parsing import parse_line
from bot.providers.catalogue import Catalogue
from bot.providers.registry import build_catalogue, build_http_client
from bot.ratelimit import RateLimiter
from bot.results import ResultFiles
from bot.scope_limits import ScopeLimits
from bot.store import Store
from bot.store.jobs import InterruptedJob, JobKind
from bot.store.retention import Retention
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
    moderation: Moderation
    _desks: ModeratorDesks
    _mod_command: ModCommand
    _mod_actions: ModeratorActions
    _describe: DescribeCommand
    metrics: Metrics  # what /metrics shows (bot.health); adapters count their platform calls in it
    _reports: UsageReports
    _lease: Lease | None = None  # set by start
    _handlers: dict[type, Handler] = field(init=False)

    def __post_init__(self) -> None:
        # The dispatch table: one entry per command type.
        self._handlers = {
            Imagine: lambda c, request, reply: self.imagine(request, c.params, reply),
            Edit: lambda c, request, reply: self.edit(request, c.params, reply),
            Blend: lambda c, request, reply: self.blend(request, c.params, reply),
            Ask: lambda c, request, reply: self.ask(request, c.question, reply),
            Chat: lambda c, request, reply: self.chat(request, c.text, reply, thinking=c.thinking),
            Describe: lambda _c, request, reply: self.describe(request, reply),
            Usage: lambda c, request, reply: self.usage(request, reply, c.report),
            Info: lambda _c, request, reply: self.info(request, reply),
            ChangeSettings: lambda c, request, reply: self.change_settings(request, c, reply),
            Models: lambda _c, _request, reply: self.models(reply),
            Cancel: lambda _c, request, reply: self.cancel(request, reply),
            Reset: lambda _c, request, reply: self.reset(request, reply),
            Help: lambda _c, request, reply: self.help(reply, request),
            Moderate: lambda c, request, reply: self.mod(request, c, reply),
            Invalid: lambda c, _request, reply: reply.send_error(c.reason),
        }

    @classmethod
    async def start(
        cls, settings: Settings, catalogue: Catalogue | None = None, *, lease_clock: Clock | None = None
    ) -> Atelier:
        """Open the store, take this process's lease and refund the jobs of processes whose lease expired,
        and build the configured providers. Whatever was opened is closed again if a later step fails.
        `lease_clock` (a wall clock by default) is what heartbeats, lease expiry and rate limits read."""
        async with AsyncExitStack() as stack:
            store = await Store.open(settings.database_url, history_messages=settings.chat_history_turns * 2)
            stack.push_async_callback(store.close)
            # Only jobs whose process is gone are refunded: another process on this file keeps its own.
            lease = Lease(store, lease_clock or WALL)
            await lease.acquire()
            stack.push_async_callback(lease.release)
            heartbeat = asyncio.create_task(lease.keep())
            stack.push_async_callback(cancel_and_wait, heartbeat)
            if catalogue is None:
                http = build_http_client(settings)
                stack.push_async_callback(http.aclose)
                catalogue = build_catalogue(settings, http)
            stack.push_async_callback(catalogue.aclose)
            classifier = None
            if settings.moderation_api_url:
                moderation_http = httpx.AsyncClient(timeout=settings.moderation_timeout_seconds)
                stack.push_async_callback(moderation_http.aclose)
                classifier = Classifier.from_settings(settings, moderation_http)
            results = ResultFiles(settings.files_dir / "results")
            retention = Retention(settings.result_retention_days, settings.chat_history_retention_days)
            await prune(store, results, retention)
            housekeeping = asyncio.create_task(_prune_periodically(store, results, retention))
            stack.push_async_callback(cancel_and_wait, housekeeping)
            core = cls._wire(settings, store, catalogue, results, stack.pop_all(), classifier, lease_clock or WALL)
        core._lease = lease
        return core

    @classmethod
    def _wire(
        cls,
        settings: Settings,
        store: Store,
        catalogue: Catalogue,
        results: ResultFiles,
        resources: AsyncExitStack,
        classifier: Classifier | None = None,
        wall: Clock = WALL,
    ) -> Atelier:
        metrics = Metrics()
        metrics.watch(catalogue)
        limiter = RateLimiter(store.rates, wall, metrics)  # in the store: survives restarts, shared by processes
        image_limits = ImageLimits.from_settings(settings)
        scope_limits = ScopeLimits(settings, store.settings)
        desks = ModeratorDesks(store.settings, store.moderation)
        moderation = Moderation(settings, store, classifier, desks, metrics=metrics)
        reviews = ReviewQueue(store, desks)
        runner = JobRunner(
            settings,
            store,
            catalogue,
            limiter,
            results,
            scope_limits,
            image_limits,
            moderation,
            reviews,
            metrics=metrics,
        )
        pictures = ConversationImages(results)
        buttons = Buttons(runner, store.jobs)
        describe = DescribeCommand(settings, catalogue, limiter, image_limits, moderation, store.ideas)

        async def job_images(job_id: str, request: Request) -> list[bytes] | str:
            refusal = await buttons.refusal(job_id, request)  # another chat's image is not this chat's
            return refusal or await runner.result_images(job_id) or "that image is no longer kept"

        tools = ChatTools(
            imagine=lambda request, params, reply: runner.run(request, JobSpec(JobKind.IMAGINE, params), reply),
            edit_attached=lambda request, params, reply: edit(runner, request, params, reply),
            edit_job=lambda job_id, instruction, request, reply: buttons.press(
                Action.EDIT, job_id, request, reply, instruction
            ),
            allowed_sizes=settings.size_allow_list,
            job_images=job_images,
            look=describe.look,
        )
        chat = ChatCommands(
            settings,
            catalogue,
            store.conversations,
            limiter,
            image_limits,
            pictures,
            moderation,
            tools,
            scope_limits,
            store.activity,
        )
        return cls(
            settings=settings,
            store=store,
            catalogue=catalogue,
            runner=runner,
            _chat=chat,
            _settings_command=SettingsCommand(
                scope_limits, store.settings, catalogue, settings.rate_limit_chat_per_user_per_minute
            ),
            _buttons=buttons,
            _scope_limits=scope_limits,
            _resources=resources,
            moderation=moderation,
            _desks=desks,
            _mod_command=ModCommand(settings, store),
            _mod_actions=ModeratorActions(store, desks, results),
            _describe=describe,
            metrics=metrics,
            _reports=UsageReports(scope_limits, store.activity),
        )

    async def close(self, drain_seconds: float = 10.0) -> None:
        """Let running jobs finish (or cancel and refund them after `drain_seconds`), then close
        everything `start` opened, in reverse order."""
        await self.runner.drain(drain_seconds)
        await self._resources.aclose()

    # ------------------------------------------------------------------------------- the door

    async def run(self, command: Command, request: Request, reply: Reply) -> None:
        """Run one typed command."""
        # Nearly every command reads the scope's settings and then its moderation policy (each store caches
        # them a few seconds): read together, two round trips to the database cost one wait.
        key = request.scope.key
        await asyncio.gather(self.store.settings.all(key), self.store.moderation.policy(key))
        await self._handlers[type(command)](command, request, reply)

    def parse(self, line: str) -> Command:
        """The text form (`/imagine a cat --ar 16:9`, or plain text to chat), as the console and Telegram
        take it."""
        return parse_line(line, self.settings.size_allow_list)

    async def imagine(self, request: Request, params: GenerationParams, reply: Reply) -> str | None:
        """Returns the job id when images were delivered."""
        if not params.enhance and await self._scope_limits.switch(request.scope, "enhance"):
            params = replace(params, enhance=True)
        return await self.runner.run(request, JobSpec(JobKind.IMAGINE, params), reply)

    async def edit(self, request: Request, params: GenerationParams, reply: Reply) -> str | None:
        """Edits the request's images (with its mask, if any). Returns the job id when delivered."""
        return await edit(self.runner, request, params, reply)

    async def blend(self, request: Request, params: GenerationParams, reply: Reply) -> str | None:
        """Blends the request's 2-4 images (an optional prompt says how). Returns the job id when delivered."""
        return await blend(self.runner, request, params, reply)

    async def ask(self, request: Request, question: str, reply: Reply) -> bool:
        """Returns True when an answer was given and stored."""
        return await self._chat.ask(request, question, reply)

    async def chat(self, request: Request, text: str, reply: Reply, *, thinking: bool = False) -> bool:
        """Returns True when an answer was given and stored. `thinking`: `/think`, the model reasons first."""
        return await self._chat.chat(request, text, reply, thinking=thinking)

    async def describe(self, request: Request, reply: Reply) -> list[str]:
        """`/describe`: four prompt ideas for the request's image (with buttons); the prompts, or []."""
        return await self._describe.describe(request, reply)

    async def imagine_idea(self, ideas_id: str, number: int, request: Request, reply: Reply) -> str | None:
        """An idea's button (or the console's `/imagine 2`): imagine that prompt. Returns the job id."""
        prompt = await self._describe.idea(ideas_id, number, request, reply)
        return None if prompt is None else await self.imagine(request, GenerationParams(prompt), reply)

    async def usage(self, request: Request, reply: Reply, report: UsageReport = UsageReport.TODAY) -> None:
        """`/usage` (today, with a chart button); `chart` for everyone, `top` and `export` for the scope's admins."""
        if report == UsageReport.CHART:
            await self._reports.chart(request, reply)
        elif report == UsageReport.TOP:
            await self._reports.top(request, reply)
        elif report == UsageReport.EXPORT:
            await self._reports.export(request, reply)
        else:
            await usage(self._scope_limits, self.store.quotas, request, reply)

    async def info(self, request: Request, reply: Reply) -> None:
        """`/info`: the asker's running jobs here (with queue positions), today's usage and the defaults."""
        await info(self.runner, self.store.jobs, self._scope_limits, self.store.quotas, request, reply)

    async def change_settings(self, request: Request, change: ChangeSettings, reply: Reply) -> None:
        await self._settings_command.run(request, change, reply)

    async def models(self, reply: Reply) -> None:
        await reply.send_text(models_text(self.catalogue))

    async def help(self, reply: Reply, request: Request | None = None) -> None:
        """The moderation commands are listed only for the scope's admins."""
        is_admin = request is not None and request.is_admin
        await reply.send_text(help_for(is_admin, console=request is not None and request.scope.platform == "console"))

    async def mod(self, request: Request, command: Moderate, reply: Reply) -> None:
        """`/mod ...`: the core checks the asker administers the scope, whatever the platform checked."""
        await self._mod_command.run(request, command, reply)

    def attach_desk(self, platform: str, desk: Desk) -> None:
        """An adapter, once connected: how the core reaches moderators' channels and requesters on it."""
        self._desks.attach(platform, desk)

    async def moderate(self, verb: ModVerb, item_id: int, request: Request, reply: Reply) -> None:
        """A button in a moderators' channel (`atelier-mod:<verb>:<id>`); checked again here."""
        await self._mod_actions.press(verb, item_id, request, reply)

    async def cancel(self, request: Request, reply: Reply) -> None:
        if await self.runner.cancel_everywhere(request.scope.key, request.user.key) == 0:
            await reply.send_text(NO_RUNNING_JOB)

    async def reset(self, request: Request, reply: Reply) -> None:
        await self._chat.reset(request, reply)

    async def action(
        self, action: Action, job_id: str, request: Request, reply: Reply, instruction: str | None = None
    ) -> str | None:
        """A button under a result (or under /describe's ideas). Returns the new job's id when one delivered."""
        if action == Action.CHART:  # under /usage: no job behind it, the presser's scope is whose chart
            await self._reports.chart(request, reply)
            return None
        if action == Action.IDEA:
            idea = parse_idea_ref(job_id)
            if idea is None:
                await reply.send_error("This button no longer works.")
                return None
            return await self.imagine_idea(*idea, request, reply)
        return await self._buttons.press(action, job_id, request, reply, instruction)

    # ------------------------------------------------------------------- interrupted jobs

    async def note_status(self, job_id: str, ref: str) -> None:
        """An adapter posted a running job's status message: `ref` is its own JSON naming it, so after a
        crash that message can be edited to say what happened (see `interrupted`)."""
        await self.store.jobs.note_status(job_id, ref)

    async def interrupted(self, platform: str) -> list[InterruptedJob]:
        """Jobs on this platform that a dead process left running, refunded since, their users not yet
        told. An adapter, once connected, tells each user and then calls `mark_told`."""
        return await self.store.jobs.interrupted(platform)

    async def more_interrupted(self, timeout: float = 60.0) -> None:
        """Wait until there may be more interrupted jobs: this process refunded some (a process that died
        a moment ago holds its lease until it expires), or `timeout` passed (another process may have)."""
        if self._lease is not None:
            await self._lease.refunds(timeout)
        else:
            await asyncio.sleep(timeout)

    async def mark_told(self, job_id: str) -> bool:
        """Claim the telling of one interrupted job; False when another process has already claimed it."""
        return await self.store.jobs.mark_told(job_id)

    async def button_refusal(self, job_id: str, request: Request) -> str | None:
        """Why this job's buttons cannot be used here (another chat's job, or gone), or None. For an
        adapter that asks something (the Edit instruction) before calling `action`."""
        return await self._buttons.refusal(job_id, request)


async def _prune_periodically(store: Store, results: ResultFiles, retention: Retention) -> None:
    """A bot that runs for weeks must not fill its disk, or its database, between restarts."""
    while True:
        await asyncio.sleep(PRUNE_EVERY_SECONDS)
        try:
            await prune(store, results, retention)
        except Exception as exc:  # the next round tries again; the bot keeps serving
            log.warning("could not prune old results and rows: %r", exc)
