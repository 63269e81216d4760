"""``FakeTelegram``: the composed fake (one mixin per Bot API area), its constructor and method table,
lifecycle and URLs."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .api import ApiMixin
from .callbacks import CallbacksMixin
from .commands import CommandsMixin
from .editing import EditingMixin
from .members import MembersMixin
from .models import DEFAULT_ALLOWED
from .recording import RecordingMixin


class FakeTelegram(ApiMixin, EditingMixin, CallbacksMixin, MembersMixin, CommandsMixin, RecordingMixin):
    """In-process fake Telegram Bot API server for the real python-telegram-bot client."""

    def __init__(
        self,
        token: str = "123456:TEST-fake-token",
        bot_username: str = "AtelierBot",
        *,
        bot_first_name: str = "Atelier",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_user = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._http = None
        # recording
        self._calls = []
        self._requests = []
        self._calls_cond = asyncio.Condition()
        self._failures = {}
        self._chat_limit = None
        self._chat_sends = {}
        # world state
        self._chats = {}
        self._users = {}
        self._members = {}
        self._messages = {}
        self._next_message_id = {}
        self._files = {}
        self._file_counter = 0
        self._callback_queries = {}  # id -> answered
        self._commands = {}
        self._webhook = {"url": ""}
        # updates / long polling
        self._updates = []
        self._next_update_id = 500_000_001
        self._allowed_updates = DEFAULT_ALLOWED
        self._updates_event = asyncio.Event()
        self._poll_generation = 0
        self._parked_polls = 0  # getUpdates requests currently blocked in a long poll
        self._poll_cond = asyncio.Condition()
        self._closing = False
        self._handlers = {
            "getMe": self._get_me,
            "logOut": lambda _c: True,
            "close": lambda _c: True,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "getFile": self._get_file,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChatMember": self._get_chat_member,
            "getChat": self._get_chat,
        }
        self._method_names = {name.lower(): name for name in self._handlers}  # Telegram ignores case

    async def start(self) -> None:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{file_path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._closing = False

    async def stop(self) -> None:
        self._closing = True
        self._wake_pollers()
        if self._http:
            await self._http.close()
            self._http = None
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def base_url(self) -> str:
        """What ``ApplicationBuilder().base_url()`` / ``Bot(base_url=)`` take; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"
