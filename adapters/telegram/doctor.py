"""`atelier doctor` for Telegram: the token (`getMe`) and, in webhook mode, what Telegram says of its
deliveries (`getWebhookInfo`). Through python-telegram-bot, with short timeouts; nothing is changed."""

from __future__ import annotations

import asyncio
from datetime import datetime

from telegram import Bot, WebhookInfo
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from adapters.doctor.lines import CHECK_TIMEOUT_SECONDS, Line, fail, ok
from bot.config import Settings


async def telegram_lines(settings: Settings) -> list[Line]:
    assert settings.telegram_token is not None
    timeout = CHECK_TIMEOUT_SECONDS
    request = HTTPXRequest(connect_timeout=timeout, read_timeout=timeout, write_timeout=timeout, pool_timeout=timeout)
    bot = Bot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_base_url,
        base_file_url=settings.telegram_base_file_url,
        request=request,
    )
    try:
        async with asyncio.timeout(2 * timeout):
            await request.initialize()
            me = await bot.get_me()
            lines = [ok("telegram", f"@{me.username}, token accepted")]
            if settings.telegram_webhook_url:
                lines.append(_delivery_line(await bot.get_webhook_info(), settings.telegram_webhook_url))
            return lines
    except InvalidToken:  # its message quotes the token: never shown
        return [fail("telegram", "Telegram refused the token: check TELEGRAM_TOKEN (BotFather, /token)")]
    except (NetworkError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return [fail("telegram", f"cannot reach the Bot API ({reason}): check TELEGRAM_BASE_URL and the network")]
    except TelegramError as exc:
        return [fail("telegram", f"the Bot API answered: {exc}: check TELEGRAM_TOKEN")]
    finally:
        await request.shutdown()


def _delivery_line(info: WebhookInfo, url: str) -> Line:
    what = "telegram deliveries"
    if not info.url:
        return ok(what, "no webhook set at Telegram yet; `atelier run` sets TELEGRAM_WEBHOOK_URL")
    if info.url != url:
        return ok(what, f"Telegram delivers to {info.url}; `atelier run` replaces it with TELEGRAM_WEBHOOK_URL")
    if info.last_error_message and info.pending_update_count:  # failing now: updates pile up
        when = _when(info.last_error_date)
        return fail(
            what,
            f"Telegram cannot deliver (updates waiting: {info.pending_update_count}; {when}: "
            f"{info.last_error_message}): check TELEGRAM_WEBHOOK_URL and its proxy",
        )
    return ok(what, f"to TELEGRAM_WEBHOOK_URL (updates waiting: {info.pending_update_count})")


def _when(moment: datetime | None) -> str:
    return "last error" if moment is None else f"last error at {moment:%Y-%m-%d %H:%M} UTC"
