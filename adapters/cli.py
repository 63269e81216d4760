"""`atelier run` starts every adapter whose token is set; `atelier console` runs the terminal adapter;
`atelier doctor` checks the settings, the database, the providers and the platforms without serving."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.matrix.settings import load_matrix_settings
from bot.config import Settings, SettingsError, load_settings
from bot.core import Atelier
from bot.preflight import catalogue_problem, database_problem, folder_problem
from bot.redaction import configure_logging, redact, secrets_of
from bot.tasks import cancel_and_wait

if TYPE_CHECKING:
    from adapters.platforms import Platform

log = logging.getLogger("atelier")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atelier", description="AI image and chat bot for Discord, Telegram and Matrix"
    )
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="start the Telegram, Discord and/or Matrix bot (whichever are set)")
    console = commands.add_parser("console", help="try the bot in this terminal")
    console.add_argument("--out", type=Path, default=Path("atelier-out"), help="where result images go")
    console.add_argument("--model", help="image model for this session (e.g. relay:flux-2-pro)")
    commands.add_parser("doctor", help="check settings, database, providers and platform tokens (nothing billable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        load_matrix_settings()  # parsed here too: a bad MATRIX_* value is said like any other setting's
    except SettingsError as exc:
        if args.command == "doctor":
            print(f"FAIL settings: {exc}")
        else:
            print(f"atelier: {exc}", file=sys.stderr)
        return 2
    if args.command == "doctor":  # it reports file problems as lines of its own
        from adapters.doctor import run_doctor

        configure_logging(settings, logging.WARNING)  # a library's warning still passes the secret filter
        return asyncio.run(run_doctor(settings))
    problem = _file_problem(settings, args)  # before the event loop: these checks block
    if problem:
        print(f"atelier: {problem}", file=sys.stderr)
        return 2
    command = args.command or "run"
    try:
        if command == "console":
            from adapters.console.logs import configure_console_logging

            configure_console_logging(settings)  # to a file: log lines never interleave with the transcript
            return asyncio.run(run_console(settings, args.out, args.model))
        configure_logging(settings)
        return asyncio.run(run_bots(settings))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last resort: one line, never a traceback (the log has the detail)
        log.debug("stopped by an unexpected error", exc_info=True)
        print(f"atelier: stopped: {redact(str(exc), secrets_of(settings)) or type(exc).__name__}", file=sys.stderr)
        return 1


def _file_problem(settings: Settings, args: argparse.Namespace) -> str | None:
    """The database, and the console's --out folder, must be writable: say so at start, not at the first job."""
    problem = database_problem(settings)
    if problem is None and args.command == "console" and (unusable := folder_problem(args.out)):
        problem = f"--out is invalid: {unusable}"
    return problem


def _missing_provider(core: Atelier, image_model_source: str = "Setting IMAGE_MODEL") -> str | None:
    """Why this core cannot serve: no provider, or an IMAGE_MODEL / CHAT_MODEL no provider offers."""
    return catalogue_problem(core.settings, core.catalogue, image_model_source)


async def run_console(settings: Settings, out_dir: Path, model: str | None) -> int:
    from adapters.console.adapter import ConsoleAdapter

    if model:
        settings = settings.model_copy(update={"image_model": model})
    core = await Atelier.start(settings)
    try:
        problem = _missing_provider(core, "--model" if model else "Setting IMAGE_MODEL")
        if problem:
            print(f"atelier: {problem}", file=sys.stderr)
            return 2
        return await ConsoleAdapter(core, out_dir).run()
    finally:
        await core.close()


async def run_bots(settings: Settings) -> int:
    """The wiring: core, health and metrics, webhook receivers, platforms; on SIGTERM/SIGINT they stop in
    order (see shut_down)."""
    from adapters.platforms import build_platforms, shut_down
    from bot.health import HealthServer
    from bot.providers.registry import webhook_receivers

    if settings.telegram_token is None and settings.discord_token is None and not load_matrix_settings().configured:
        print("atelier: nothing to run: set TELEGRAM_TOKEN, DISCORD_TOKEN or MATRIX_* (see README).", file=sys.stderr)
        return 2
    core = await Atelier.start(settings)
    problem = _missing_provider(core)
    if problem:
        await core.close()
        print(f"atelier: {problem}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    platforms = build_platforms(core, settings)
    receivers = webhook_receivers(core.catalogue)
    started: list[Platform] = []
    health = HealthServer(core.store, core.metrics, started)  # checks the platforms as they start
    status = 0
    try:
        await health.start(settings.metrics_listen)
        for receiver in receivers:
            await receiver.start()
        for platform in platforms:
            failure = await _start(platform, stop, settings)
            if failure is not None:  # a wrong token, an unreachable platform: one clear line, and we stop
                print(f"atelier: could not start {platform.name}: {failure}", file=sys.stderr)
                return 1
            if stop.is_set():
                return 0
            started.append(platform)
            log.info("%s adapter started", platform.name)
        failure = await _until_stopped(stop, started)
        if failure is not None:  # e.g. another process polls the same Telegram bot: one clear line, status 1
            print(f"atelier: {failure}", file=sys.stderr)
            status = 1
        log.info("stopping: no new requests; letting running jobs finish")
    finally:
        await shut_down(core, started, settings.shutdown_grace_seconds)
        for receiver in receivers:
            with contextlib.suppress(Exception):
                await receiver.stop()
        await health.stop()
        await core.close(drain_seconds=0.0)
    return status


async def _until_stopped(stop: asyncio.Event, platforms: list[Platform]) -> str | None:
    """Wait for a signal, or for a platform that stopped on its own (its optional `failure` future,
    e.g. Telegram's poller meeting another one). Returns that platform's reason."""
    failures = [platform.failure for platform in platforms if platform.failure is not None]
    stopping = asyncio.ensure_future(stop.wait())
    try:
        waiting: list[asyncio.Future[Any]] = [stopping, *failures]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(stopping)
    failed = next((future for future in failures if future.done() and not future.cancelled()), None)
    return None if failed is None else str(failed.result())


async def _start(platform: Platform, stop: asyncio.Event, settings: Settings) -> str | None:
    """Start one platform, unless a signal comes first. Returns why it could not start, if it could not."""
    starting = asyncio.ensure_future(platform.start())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(stopping)
    if not starting.done():  # a signal while connecting
        await cancel_and_wait(starting)
        return None
    exc = starting.exception()
    if exc is None:
        return None
    log.debug("%s did not start", platform.name, exc_info=exc)
    return redact(str(exc), secrets_of(settings)) or type(exc).__name__
