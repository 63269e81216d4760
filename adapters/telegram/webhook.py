"""Webhook mode: a small aiohttp server that takes Telegram's POSTs, checks the secret token header
Telegram echoes back (set with setWebhook's `secret_token`), and queues the updates for PTB.

PTB's own `start_webhook` needs the optional tornado dependency; aiohttp already serves Atelier's
other webhooks, so this is the same small server."""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.listener import listen_for_posts, parse_listen

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    def __init__(self, application: Application, webhook_url: str, listen: str, secret: str) -> None:
        self._application = application
        self._path = urlsplit(webhook_url).path or "/"
        self._host, self._port = parse_listen(listen)
        self._secret = secret
        self._runner: web.AppRunner | None = None

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        self._runner, self._port = await listen_for_posts(self._host, self._port, self._path, self._receive)
        log.info("telegram: webhook listening on %s:%d%s", self._host, self._port, self._path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(status=403, text="forbidden")
        try:
            data = json.loads(await request.read())
            update = Update.de_json(data, self._application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not an update")
        await self._application.update_queue.put(update)
        return web.Response(text="ok")
