"""`atelier doctor`: after filling `.env`, check everything `atelier run` will need, without generating
anything billable or changing anything: the database, the models, each provider, each platform token and
webhook. The checks run at once; the lines come out in a fixed order; exit status 1 if any failed."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from adapters.doctor.core import database_lines, moderation_lines, provider_lines
from adapters.doctor.lines import CHECK_TIMEOUT_SECONDS, Line, fail, ok
from adapters.doctor.webhooks import Webhook, configured_webhooks, webhook_line
from adapters.matrix.settings import MatrixSettings, load_matrix_settings
from bot.config import Settings
from bot.redaction import redact, secrets_of

log = logging.getLogger(__name__)
# A check with several calls in a row still ends: past this, it is one FAIL line.
_CHECK_DEADLINE_SECONDS = 3 * CHECK_TIMEOUT_SECONDS

Check = tuple[str, Callable[[], Awaitable[list[Line]]]]


async def run_doctor(settings: Settings, out: Callable[[str], None] = print) -> int:
    matrix = load_matrix_settings()  # parsed by `atelier doctor` already
    secrets = [*secrets_of(settings), *matrix.secrets()]
    checks = _checks(settings, matrix)
    results = await asyncio.gather(*(_guarded(what, check, secrets) for what, check in checks))
    lines = [ok("settings", "every setting parses"), *(line for found in results for line in found)]
    if settings.telegram_token is None and settings.discord_token is None and not matrix.configured:
        lines.append(
            fail("platforms", "none of TELEGRAM_TOKEN, DISCORD_TOKEN, MATRIX_* is set: `atelier run` needs one")
        )
    for line in lines:
        out(line.render(secrets))
    return 0 if all(line.ok for line in lines) else 1


def _checks(settings: Settings, matrix: MatrixSettings) -> list[Check]:
    checks: list[Check] = [
        ("database", lambda: database_lines(settings)),
        ("providers", lambda: provider_lines(settings)),
        ("moderation", lambda: moderation_lines(settings)),
    ]
    if settings.telegram_token is not None:
        from adapters.telegram.doctor import telegram_lines

        checks.append(("telegram", lambda: telegram_lines(settings)))
    if settings.discord_token is not None:
        from adapters.discord.doctor import discord_lines

        checks.append(("discord", lambda: discord_lines(settings)))
    if matrix.configured:
        from adapters.matrix.doctor import matrix_lines

        checks.append(("matrix", lambda: matrix_lines(matrix)))
    checks += [(hook.what, functools.partial(_webhook_lines, hook)) for hook in configured_webhooks(settings)]
    return checks


async def _webhook_lines(hook: Webhook) -> list[Line]:
    return [await webhook_line(hook)]


async def _guarded(what: str, check: Callable[[], Awaitable[list[Line]]], secrets: list[str]) -> list[Line]:
    """A check that overruns or breaks is one FAIL line, never a traceback."""
    try:
        async with asyncio.timeout(_CHECK_DEADLINE_SECONDS):
            return await check()
    except TimeoutError:
        return [fail(what, f"no answer within {_CHECK_DEADLINE_SECONDS:g} s: check the network")]
    except Exception as exc:
        log.debug("doctor check %s broke", what, exc_info=True)
        return [fail(what, f"the check could not run: {redact(str(exc), secrets) or type(exc).__name__}")]
