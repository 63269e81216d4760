"""Does a public webhook URL lead to where the bot will listen? The doctor listens there itself for a moment
(on the path the real receiver uses), sends one marked POST to the public URL from this machine, and sees
whether it arrives: DNS, TLS, the proxy and its forwarding, all on the way."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from aiohttp import web

from adapters.doctor.lines import CHECK_TIMEOUT_SECONDS, Line, fail, ok
from bot.config import Settings
from bot.listener import listen_for_posts, parse_listen
from bot.providers.apiframe_webhook import WEBHOOK_PATH
from bot.providers.wire import transport_failure

MARK_HEADER = "X-Atelier-Doctor"


@dataclass(frozen=True)
class Webhook:
    what: str
    url: str
    path: str  # where the real receiver serves POSTs
    listen: str
    url_setting: str
    listen_setting: str


def configured_webhooks(settings: Settings) -> list[Webhook]:
    found = []
    if settings.telegram_token is not None and settings.telegram_webhook_url:
        url = settings.telegram_webhook_url
        found.append(
            Webhook(
                "telegram webhook",
                url,
                urlsplit(url).path or "/",
                settings.telegram_webhook_listen,
                "TELEGRAM_WEBHOOK_URL",
                "TELEGRAM_WEBHOOK_LISTEN",
            )
        )
    if settings.apiframe_api_key is not None and settings.public_base_url:
        found.append(
            Webhook(
                "apiframe webhook",
                settings.public_base_url.rstrip("/") + WEBHOOK_PATH,
                WEBHOOK_PATH,
                settings.webhook_listen,
                "PUBLIC_BASE_URL",
                "WEBHOOK_LISTEN",
            )
        )
    return found


async def webhook_line(hook: Webhook) -> Line:
    mark = secrets.token_urlsafe(16)
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get(MARK_HEADER) == mark:
            arrived.set()
        return web.Response(text="atelier doctor")

    host, port = parse_listen(hook.listen)
    runner: web.AppRunner | None = None
    try:
        runner, _ = await listen_for_posts(host, port, hook.path, receive)
    except OSError:
        pass  # in use (a running `atelier run`?): only whether the URL answers can be seen
    try:
        async with httpx.AsyncClient(timeout=CHECK_TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = await client.post(hook.url, headers={MARK_HEADER: mark}, json={})
    except httpx.HTTPError as exc:
        reason = transport_failure(exc, "POST", hook.url)
        return fail(hook.what, f"{hook.url} cannot be reached from here ({reason}): check {hook.url_setting}")
    finally:
        if runner is not None:
            await runner.cleanup()
    if arrived.is_set():
        return ok(hook.what, f"{hook.url} reaches {hook.listen_setting} ({hook.listen})")
    status = f"HTTP {response.status_code}"
    if runner is None:
        return ok(
            hook.what,
            f"{hook.url} answers ({status}); {hook.listen} is in use (is `atelier run` running?), "
            "so only reachability was checked",
        )
    return fail(
        hook.what,
        f"{hook.url} answered {status}, but the request never reached {hook.listen_setting} ({hook.listen}{hook.path}):"
        f" point {hook.url_setting}'s proxy there",
    )
