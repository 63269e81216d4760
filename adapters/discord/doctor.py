"""`atelier doctor` for Discord, over discord.py's REST client (no gateway connection): the token
(`GET /users/@me`), the Message Content intent in the application's flags (`GET /oauth2/applications/@me`),
and, in each server the bot is in (`GET /users/@me/guilds`), the permissions the README's invite grants."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import aiohttp
import discord
from discord.http import HTTPClient

from adapters.doctor.lines import CHECK_TIMEOUT_SECONDS, Line, fail, ok
from bot.config import Settings

# Application flags: the intent enabled in the Developer Portal (verified bots: approved), or, for bots in
# under 100 servers, the "limited" form the portal's toggle sets.
GATEWAY_MESSAGE_CONTENT = 1 << 19
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 18
# What the README's invite link asks for (permissions=311385229312), by the names the invite screen shows.
NEEDED_PERMISSIONS = {
    "Send Messages": 1 << 11,
    "Attach Files": 1 << 15,
    "Read Message History": 1 << 16,
    "Use Application Commands": 1 << 31,
    "Create Public Threads": 1 << 35,
    "Send Messages in Threads": 1 << 38,
}
INVITE_PERMISSIONS = sum(NEEDED_PERMISSIONS.values())
ADMINISTRATOR = 1 << 3
GUILD_PAGE = 200  # Discord's most per request


async def discord_lines(settings: Settings) -> list[Line]:
    assert settings.discord_token is not None
    http = HTTPClient(asyncio.get_running_loop())
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            me = await http.static_login(settings.discord_token.get_secret_value())
        lines = [ok("discord", f"{_name(me)}, token accepted")]
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            application = await http.application_info()
            guilds = await http.get_guilds(GUILD_PAGE, with_counts=False)
        return [*lines, _intent_line(settings, application), _permissions_line(guilds)]
    except discord.LoginFailure:
        return [fail("discord", "Discord refused the token: check DISCORD_TOKEN (Developer Portal, Bot, Reset Token)")]
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        return [fail("discord", f"cannot reach Discord's API ({reason}): check the network")]
    except discord.HTTPException as exc:
        return [fail("discord", f"Discord answered HTTP {exc.status}: {exc.text or 'no reason given'}")]
    finally:
        await http.close()


def _name(user: Mapping[str, object]) -> str:
    discriminator = str(user.get("discriminator") or "0")
    return str(user.get("username", "?")) + ("" if discriminator == "0" else f"#{discriminator}")


def _intent_line(settings: Settings, application: Mapping[str, object]) -> Line:
    what = "discord intents"
    if not settings.discord_message_content:
        return ok(what, "Message Content not requested (DISCORD_MESSAGE_CONTENT=false): threads answer mentions only")
    if int(str(application.get("flags") or 0)) & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED):
        return ok(what, "Message Content is enabled")
    return fail(
        what,
        "the Message Content intent is off (Developer Portal, Bot, Privileged Gateway Intents): turn it on, "
        "or set DISCORD_MESSAGE_CONTENT=false",
    )


def _permissions_line(guilds: Sequence[Mapping[str, object]]) -> Line:
    what = "discord permissions"
    if not guilds:
        return ok(what, f"in no server yet: invite it with permissions={INVITE_PERMISSIONS} (README, Discord)")
    short = []
    for guild in guilds:
        granted = int(str(guild.get("permissions") or 0))  # the bot's, as the server grants them
        missing = [] if granted & ADMINISTRATOR else [n for n, bit in NEEDED_PERMISSIONS.items() if not granted & bit]
        if missing:
            short.append(f"{guild.get('name', guild.get('id'))} lacks {', '.join(missing)}")
    more = " (the first 200 checked)" if len(guilds) >= GUILD_PAGE else ""
    if short:
        return fail(
            what,
            "; ".join(short) + f"{more}: grant them to the bot's role, or invite it again with "
            f"permissions={INVITE_PERMISSIONS} (README, Discord)",
        )
    servers = "1 server" if len(guilds) == 1 else f"{len(guilds)} servers"
    return ok(what, f"{servers}, each granting what the bot needs{more}")
