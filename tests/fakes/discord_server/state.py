"""The state every area of the fake shares (declared here, filled by ``FakeDiscord.__init__``), plus ids,
URLs, change notification and the basic lookups that answer Discord's "Unknown ..." errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from .models import API_PREFIX, DISCORD_EPOCH_MS, MESSAGE_FLAG_EPHEMERAL, ApiError, FakeInteraction, RecordedRequest


class DiscordState:
    """Configuration, world and records; each area mixin builds on this."""

    # configuration
    token: str
    privileged_intents: frozenset[str]
    heartbeat_interval_ms: int
    interaction_ack_deadline: float
    interaction_token_seconds: float  # how long an interaction's webhook token is accepted (15 min on Discord)
    ratelimit_headers: bool
    strict_commands: bool
    bot_permissions: int
    # world
    users: dict[int, dict[str, Any]]
    guilds: dict[int, dict[str, Any]]  # guild-only fields
    roles: dict[int, dict[int, dict[str, Any]]]  # guild_id -> role_id -> role
    members: dict[int, dict[int, dict[str, Any]]]  # guild_id -> user_id -> member (no user)
    channels: dict[int, dict[str, Any]]  # guild channels, threads and DMs
    messages: dict[int, dict[str, Any]]
    deleted_messages: dict[int, dict[str, Any]]
    commands: dict[int | None, dict[tuple[str, int], dict[str, Any]]]
    interactions: dict[int, FakeInteraction]
    modals: list[tuple[FakeInteraction, dict[str, Any]]]
    bot_user: dict[str, Any]
    bot_id: int
    application_id: int
    owner: dict[str, Any]
    user: dict[str, Any]
    guild_id: int
    channel_id: int
    # records
    requests: list[RecordedRequest]
    gateway_received: list[dict[str, Any]]
    cdn_requests: list[str]
    gateway_queries: list[dict[str, str]]  # path + query string of each gateway connect
    identify: dict[str, Any] | None  # the last IDENTIFY
    identifies: list[dict[str, Any]]  # every IDENTIFY, one per shard connection
    max_concurrency: int  # IDENTIFYs allowed per 5 s (GET /gateway/bot session_start_limit)
    required_shards: int  # above 1: unsharded or too few shards are refused (close 4011), as past 2,500 guilds
    internal_errors: list[BaseException]
    port: int
    _sf_last: int
    _sf_inc: Iterator[int]
    _changed: asyncio.Event

    def snowflake(self) -> int:
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (next(self._sf_inc) & 0xFFF)
        self._sf_last = value = max(value, self._sf_last + 1)
        return value

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeDiscord is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (wrap in ``yarl.URL``)."""
        return f"ws://127.0.0.1:{self.port}/"

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _token_ok(self, token: str | None) -> bool:
        return token is not None and token.removeprefix("Bot ") == self.token

    def _channel(self, channel_id: Any) -> dict[str, Any]:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _message_in(self, channel_id: Any, message_id: Any) -> dict[str, Any]:
        self._channel(channel_id)
        msg = self.messages.get(int(message_id))
        # An ephemeral message is reachable only through its interaction's token, never on the channel routes.
        if msg is None or msg["channel_id"] != str(channel_id) or msg["flags"] & MESSAGE_FLAG_EPHEMERAL:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def _interaction_by_token(self, token: str) -> FakeInteraction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        return sorted(
            (m for m in self.messages.values() if m["channel_id"] == str(channel_id)),
            key=lambda m: int(m["id"]),
        )

    def message(self, message_id: int) -> dict[str, Any]:
        return self.messages[int(message_id)]
