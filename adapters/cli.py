"""`atelier run` starts every adapter whose token is set; `atelier console` runs the terminal adapter."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from bot.config import Settings, SettingsError, load_settings
from bot.core import Atelier
from bot.redaction import configure_logging

log = logging.getLogger("atelier")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atelier", description="AI image and chat bot for Discord and Telegram")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="start the Telegram and/or Discord bot (whichever tokens are set)")
    console = commands.add_parser("console", help="try the bot in this terminal")
    console.add_argument("--out", type=Path, default=Path("atelier-out"), help="where result images go")
    console.add_argument("--model", help="image model for this session (e.g. relay:flux-2-pro)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"atelier: {exc}", file=sys.stderr)
        return 2
    command = args.command or "run"
    try:
        if command == "console":
            configure_logging(settings, logging.WARNING)
            return asyncio.run(run_console(settings, args.out, args.model))
        configure_logging(settings)
        return asyncio.run(run_bots(settings))
    except KeyboardInterrupt:
        return 130


def _missing_provider(core: Atelier) -> str | None:
    if core.catalogue.image_models() or core.catalogue.chat_providers:
        return None
    return "No provider is configured: set AGNES_API_KEY (or another provider's settings, see README)."


async def run_console(settings: Settings, out_dir: Path, model: str | None) -> int:
    from adapters.console.adapter import ConsoleAdapter

    if model:
        settings = settings.model_copy(update={"image_model": model})
    core = await Atelier.start(settings)
    try:
        problem = _missing_provider(core)
        if problem:
            print(f"atelier: {problem}", file=sys.stderr)
            return 2
        await ConsoleAdapter(core, out_dir).run()
        return 0
    finally:
        await core.close()


async def run_bots(settings: Settings) -> int:
    from adapters.platforms import build_platforms
    from bot.providers.registry import webhook_receivers

    if settings.telegram_token is None and settings.discord_token is None:
        print("atelier: nothing to run: set TELEGRAM_TOKEN and/or DISCORD_TOKEN (see README).", file=sys.stderr)
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
    started = []
    try:
        for receiver in receivers:
            await receiver.start()
        for platform in platforms:
            try:
                await platform.start()
            except Exception as exc:  # a wrong token, an unreachable platform: one clear line
                print(f"atelier: could not start {platform.name}: {exc}", file=sys.stderr)
                return 1
            started.append(platform)
            log.info("%s adapter started", platform.name)
        await stop.wait()
        log.info("stopping: letting running jobs finish")
    finally:
        for platform in reversed(started):
            with contextlib.suppress(Exception):
                await platform.stop()
        for receiver in receivers:
            with contextlib.suppress(Exception):
                await receiver.stop()
        await core.close(drain_seconds=20.0)
    return 0
