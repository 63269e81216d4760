"""The Telegram adapter's lifecycle: build the PTB Application, start long polling (or the webhook
receiver when TELEGRAM_WEBHOOK_URL is set), and stop cleanly, letting running work finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from urllib.parse import quote

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import InvalidToken
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

from adapters.telegram.admins import AdminCache
from adapters.telegram.desk import TelegramDesk
from adapters.telegram.handlers import Handlers
from adapters.telegram.outbox import Outbox
from adapters.telegram.recovery import keep_telling
from adapters.telegram.webhook import WebhookServer
from bot.config import Settings
from bot.core import Atelier
from bot.redaction import RedactingFilter, secrets_of
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = [
    BotCommand("imagine", "Make an image: /imagine a lighthouse at dusk --ar 16:9"),
    BotCommand("edit", "Change an image: reply to it with /edit make it snowy"),
    BotCommand("ask", "Ask about an image: reply to it with /ask what is this?"),
    BotCommand("chat", "Talk with the assistant; reply to continue"),
    BotCommand("usage", "Your images today and the limits here"),
    BotCommand("models", "The image models on offer"),
    BotCommand("cancel", "Stop your running image job"),
    BotCommand("reset", "Forget this conversation"),
    BotCommand("settings", "Admins: quotas, rate limit, default model"),
    BotCommand("mod", "Admins: blocked terms, bans, topic rules, review queue"),
    BotCommand("help", "What Atelier can do"),
]
ADMIN_COMMANDS = ("settings", "mod")
# Telegram picks the most specific menu: group admins see every command, other group members not the
# admin-only ones; in a private chat everyone administers their own scope (the default menu).
MENUS = [
    (BotCommandScopeDefault(), COMMANDS),
    (BotCommandScopeAllGroupChats(), [command for command in COMMANDS if command.command not in ADMIN_COMMANDS]),
    (BotCommandScopeAllChatAdministrators(), COMMANDS),
]
STOP_GRACE_SECONDS = 25.0  # running image jobs get this long to deliver before the bot goes


class TelegramAdapter:
    name = "telegram"

    def __init__(self, core: Atelier, settings: Settings) -> None:
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN is not set")
        secret_values = secrets_of(settings)
        guard_library_logs(secret_values)  # before the Bot exists: PTB logs its token-bearing URL
        self._core = core
        self._settings = settings
        self._webhook_url = settings.telegram_webhook_url
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(True)  # a long image job must not hold up other chats
            # Stopping confirms the last updates with one more getUpdates while the cancelled long poll may
            # still hold its connection: a second one, or that call times out and they come again next start.
            .get_updates_connection_pool_size(2)
        )
        if self._webhook_url:
            builder = builder.updater(None)
        self.application: Application = builder.build()
        self.outbox = Outbox(self.application.bot, core.store.conversations, settings, on_status=core.note_status)
        self.handlers = Handlers(
            core, self.outbox, AdminCache(self.application.bot, settings.telegram_admin_cache_seconds)
        )
        self.handlers.set_secrets(secret_values)
        # Animations and animated stickers too: a request with one gets told it cannot be used as an image.
        media = filters.PHOTO | filters.Document.IMAGE | filters.Sticker.ALL | filters.ANIMATION
        message_filter = filters.UpdateType.MESSAGE & (filters.TEXT | media)
        self.application.add_handler(MessageHandler(message_filter, self.handlers.on_message))
        self.application.add_handler(CallbackQueryHandler(self.handlers.on_callback))
        self.application.add_error_handler(self.handlers.on_error)
        self.webhook: WebhookServer | None = None
        self._recovery: asyncio.Task[None] | None = None  # telling users of jobs a crash cut off

    async def start(self) -> None:
        """Returns once updates are being received."""
        app = self.application
        try:
            await app.initialize()  # getMe: fails fast on a wrong token
        except InvalidToken:
            raise RuntimeError("Telegram rejected TELEGRAM_TOKEN: copy it again from @BotFather") from None
        try:
            for scope, commands in MENUS:
                await app.bot.set_my_commands(commands, scope=scope)
        except Exception as exc:  # the menu is a nicety; never a reason not to start
            log.warning("telegram: setMyCommands failed: %s", type(exc).__name__)
        await app.start()
        # Moderators' channels: alerts, the review queue, approved results posted later (bot.moderation.desk).
        self._core.attach_desk(self.name, TelegramDesk(self.outbox, self._settings.delivery_deadline_seconds))
        # Jobs a crash cut off: their users are told now (in the background), once.
        self._recovery = asyncio.create_task(keep_telling(self._core, self.outbox))
        if self._webhook_url:
            secret = self._settings.telegram_webhook_secret
            token = secret.get_secret_value() if secret else secrets.token_urlsafe(32)
            self.webhook = WebhookServer(app, self._webhook_url, self._settings.telegram_webhook_listen, token)
            await self.webhook.start()
            await app.bot.set_webhook(self._webhook_url, secret_token=token, allowed_updates=ALLOWED_UPDATES)
            log.info("telegram: receiving updates by webhook as @%s", app.bot.username)
        else:
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, poll_interval=0.0)
            log.info("telegram: polling for updates as @%s", app.bot.username)

    async def stop_intake(self) -> None:
        """Take no new updates (polling or webhook); running work goes on and can still answer."""
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None

    async def close(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Once the jobs have delivered: let other handlers finish (bounded), then close the Bot API session."""
        app = self.application
        await cancel_and_wait(self._recovery)
        await self._finish_inflight(grace)
        if app.running:
            await app.stop()
        await self.outbox.drain(5.0)
        await app.shutdown()

    async def stop(self) -> None:
        """Both steps, for a process that runs nothing else (`atelier run` drains the core's jobs between them)."""
        await self.stop_intake()
        await self.close()

    async def _finish_inflight(self, timeout: float) -> None:
        pending = [task for task in self.handlers.inflight if not task.done()]
        if not pending:
            return
        log.info("telegram: waiting for %d running request(s)", len(pending))
        _, late = await asyncio.wait(pending, timeout=timeout)
        for task in late:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*late, return_exceptions=True)


def guard_library_logs(secret_values: list[str]) -> None:
    """PTB logs the token-bearing API URL at DEBUG and httpx logs every request URL at INFO: mask
    secrets in the records those libraries create, whatever handlers the host process has."""
    names = ["httpx", "httpcore", "telegram", "telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Updater"]
    names += [name for name in logging.root.manager.loggerDict if name.startswith(("telegram", "httpx", "httpcore"))]
    # File downloads log the URL percent-encoded (the token's ':' as %3A).
    masked = secret_values + [quote(value, safe="") for value in secret_values]
    for name in dict.fromkeys(names):
        logger = logging.getLogger(name)
        for old in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
            logger.removeFilter(old)
        logger.addFilter(RedactingFilter(masked))
