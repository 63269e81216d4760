"""A small inbound HTTP listener: webhooks (Telegram updates, provider callbacks) on one POST route, and
the health and metrics endpoint (bot.health)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

MAX_WEBHOOK_BODY = 1024 * 1024


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"'{listen}' is not host:port")
    return host.strip("[]"), int(port)


async def listen_for_posts(
    host: str, port: int, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> tuple[web.AppRunner, int]:
    """Serve `handler` at POST `path`. Returns the runner (for cleanup) and the bound port (0 picks one)."""
    app = web.Application(client_max_size=MAX_WEBHOOK_BODY)
    app.router.add_post(path, handler)
    return await serve(app, host, port)


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on host:port. Returns the runner (for cleanup) and the bound port (0 picks one)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]
