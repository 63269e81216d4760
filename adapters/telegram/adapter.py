"""The Telegram adapter's lifecycle: build the PTB Application, start long polling (or the webhook
receiver when TELEGRAM_WEBHOOK_URL is set), and stop cleanly, letting running work finish."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
from urllib.parse import quote

from telegram import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import Conflict, InvalidToken, TelegramError
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

from adapters.held_lease import renewing
from adapters.telegram.admins import AdminCache
from adapters.telegram.desk import TelegramDesk
from adapters.telegram.handlers import Handlers
from adapters.telegram.outbox import Outbox
from adapters.telegram.poller import OTHER_DATABASE, PollerLease, lease_name, one_poller
from adapters.telegram.recovery import keep_telling
from adapters.telegram.transport import bot_request, get_updates_request
from adapters.telegram.webhook import WebhookServer
from bot.config import Settings
from bot.core import Atelier
from bot.lease import WALL
from bot.redaction import RedactingFilter, redact, secrets_of
from bot.tasks import cancel_and_wait

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
COMMANDS = [
    BotCommand("imagine", "Make an image: /imagine a lighthouse at dusk --ar 16:9"),
    BotCommand("edit", "Change an image: reply to it with /edit make it snowy"),
    BotCommand("blend", "Blend 2-4 images: send an album with /blend as its caption"),
    BotCommand("ask", "Ask about an image: reply to it with /ask what is this?"),
    BotCommand("chat", "Talk with the assistant; reply to continue"),
    BotCommand("think", "The same, the assistant thinking it through first"),
    BotCommand("describe", "Prompt ideas for an image: reply to it with /describe"),
    BotCommand("usage", "Your images today and the limits here"),
    BotCommand("info", "Your running jobs, today's usage and the defaults here"),
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
        self._webhook_secret = webhook_secret(settings)
        secret_values = [*secrets_of(settings), self._webhook_secret]
        guard_library_logs(secret_values)  # before the Bot exists: PTB logs its token-bearing URL
        self._core = core
        self._settings = settings
        self._webhook_url = settings.telegram_webhook_url
        counted = core.metrics.httpx_hook(self.name)  # every Bot API call and its status (429: flood control)
        builder = (
            ApplicationBuilder()
            .token(settings.telegram_token.get_secret_value())
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .concurrent_updates(True)  # a long image job must not hold up other chats
            .request(bot_request(counted))
            .get_updates_request(get_updates_request(counted))
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
        self._secret_values = secret_values
        # Polling: the lease that makes this the bot's one poller, its heartbeat, and why polling stopped
        # on its own (another poller); `atelier run` waits on `failure` and exits with status 1.
        self._poller: PollerLease | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._halting: asyncio.Task[None] | None = None
        self._stopping = False
        self.failure: asyncio.Future[str] | None = None

    async def start(self) -> None:
        """Returns once updates are being received."""
        app = self.application
        try:
            await app.initialize()  # getMe: fails fast on a wrong token
        except BaseException as exc:
            await app.bot.request.shutdown()  # an initialize that failed leaves the Bot API client open
            if isinstance(exc, InvalidToken):
                raise RuntimeError("Telegram rejected TELEGRAM_TOKEN: copy it again from @BotFather") from None
            raise
        if not self._webhook_url:
            store = self._core.store
            self._poller = PollerLease(store.leases, lease_name(app.bot.id), store.instance_id, WALL)
            try:
                await self._poller.acquire()
            except Exception:
                await app.shutdown()
                raise
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
            token = self._webhook_secret
            self.webhook = WebhookServer(app, self._webhook_url, self._settings.telegram_webhook_listen, token)
            await self.webhook.start()
            # Every worker behind the URL registers the same URL and secret: repeating it changes nothing,
            # so workers starting (or a rolling restart) never undo each other.
            await app.bot.set_webhook(self._webhook_url, secret_token=token, allowed_updates=ALLOWED_UPDATES)
            log.info("telegram: receiving updates by webhook as @%s", app.bot.username)
        else:
            assert app.updater is not None
            assert self._poller is not None
            self.failure = asyncio.get_running_loop().create_future()
            self.failure.add_done_callback(self._halt_polling)
            await app.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES, poll_interval=0.0, error_callback=self._polling_error
            )
            self._heartbeat = asyncio.create_task(renewing(self._poller, self.failure))
            log.info("telegram: polling for updates as @%s", app.bot.username)

    def alive(self) -> bool:
        """Taking updates: the webhook receiver listens, or polling goes on (not stopped by another poller)."""
        if not self.application.running or self._stopping:
            return False
        if self._webhook_url:
            return self.webhook is not None
        updater = self.application.updater
        polling = updater is not None and updater.running
        return polling and self.failure is not None and not self.failure.done()

    async def stop_intake(self) -> None:
        """Take no new updates (polling or webhook); running work goes on and can still answer."""
        app = self.application
        self._stopping = True
        if self._halting is not None:
            await self._halting
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await cancel_and_wait(self._heartbeat)
        if self._poller is not None:
            await self._poller.release()
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
        await self.outbox.background.drain(5.0)
        await app.shutdown()

    async def stop(self) -> None:
        """Both steps, for a process that runs nothing else (`atelier run` drains the core's jobs between them)."""
        await self.stop_intake()
        await self.close()

    def _polling_error(self, error: TelegramError) -> None:
        """PTB's polling loop met an error. Another poller (409 Conflict) is fatal: retrying would only
        take turns with it for ever. Anything else is logged and PTB tries again."""
        if isinstance(error, Conflict) and not self._stopping:
            if self.failure is not None and not self.failure.done():
                other = "terminated by other getUpdates" in error.message
                self.failure.set_result(one_poller(OTHER_DATABASE) if other else f"Telegram: {error.message}")
            return
        log.warning("telegram: polling: %s", redact(f"{type(error).__name__}: {error}", self._secret_values))

    def _halt_polling(self, failure: asyncio.Future[str]) -> None:
        if failure.cancelled() or self._stopping:
            return
        log.error("telegram: %s", failure.result())
        self._halting = asyncio.get_running_loop().create_task(self._stop_polling())

    async def _stop_polling(self) -> None:
        """Stop polling, without PTB's last getUpdates that confirms the fetched updates: that call would
        end the other poller's request in turn, and it is the one that goes on."""
        updater = self.application.updater
        if updater is None or not updater.running:
            return
        if hasattr(updater, "_Updater__polling_cleanup_cb"):
            updater._Updater__polling_cleanup_cb = _no_cleanup  # type: ignore[attr-defined]
        await updater.stop()
        await cancel_and_wait(self._heartbeat)
        if self._poller is not None:
            await self._poller.release()

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


def webhook_secret(settings: Settings) -> str:
    """TELEGRAM_WEBHOOK_SECRET, or one derived from the token: the same in every worker and across
    restarts (a random one per process would lock the other workers out), and unknown without the token."""
    if settings.telegram_webhook_secret is not None:
        return settings.telegram_webhook_secret.get_secret_value()
    assert settings.telegram_token is not None
    token = settings.telegram_token.get_secret_value().encode()
    return hmac.new(token, b"atelier telegram webhook secret", hashlib.sha256).hexdigest()


async def _no_cleanup() -> None:
    return None


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
