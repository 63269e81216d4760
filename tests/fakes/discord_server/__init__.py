"""A protocol-faithful fake Discord (REST v10 + gateway + CDN) for end-to-end tests.

The real discord.py client connects to it over 127.0.0.1::

    fake = FakeDiscord()
    await fake.start()
    with fake.patched_discord():          # Route.BASE + DiscordWebSocket.DEFAULT_GATEWAY
        client = discord.Client(intents=..., guild_ready_timeout=0.05)
        task = asyncio.create_task(client.start(fake.token))
        ...
    await fake.stop()

What it models (ground truth: discord.py 2.7.1 sources + the Discord API docs):

* gateway: HELLO -> IDENTIFY/RESUME -> READY + GUILD_CREATE, heartbeats/ACK, sequence numbers,
  zlib-stream transport compression (one compressobj per connection, Z_SYNC_FLUSH per payload),
  zstd-stream when a zstd module is importable, intent filtering (incl. MESSAGE_CONTENT scrubbing),
  privileged-intent enforcement (close 4014), member chunking (op 8), resume replay, RECONNECT.
* REST: bot auth (401), users/applications/commands, channel messages (JSON and multipart with
  ``payload_json`` + ``files[n]``), threads, interaction callbacks (``with_response``), webhook
  follow-ups and ``@original``, real error bodies (10003, 10008, 10015, 10062, 40060, 50006, 50013...),
  interaction tokens refused once expired (401 50027: ``expire_interaction_tokens_after``,
  ``expire_interaction_token``), ephemeral messages kept off the channel routes (10008),
  optional rate-limit headers and injectable 429s / errors.
* CDN: attachment bytes served from ``/attachments/{channel_id}/{attachment_id}/{filename}``.

Every REST request is recorded as a :class:`RecordedRequest`; ``wait_for``/``wait_until`` block on an
event that is set whenever the fake's state changes (no polling sleeps).

Layout: ``server`` composes :class:`FakeDiscord` from one mixin per area -- ``state`` (shared state),
``world`` (users/guilds/channels/permissions), ``gateway``, ``messages``, ``attachments`` (uploads + CDN),
``threads``, ``interactions`` (callbacks + webhooks), ``user_actions`` and ``commands`` (what users do),
``ratelimits``, ``rest`` (HTTP plumbing) and ``waiting``; ``models`` and ``components`` hold shared types/helpers.
"""

from .models import (
    ALL_PERMISSIONS,
    API_PREFIX,
    API_VERSION,
    ATTACHMENT_SIZE_LIMIT,
    BOT_PERMISSIONS,
    DISCORD_EPOCH_MS,
    EVERYONE_PERMISSIONS,
    MAX_CONTENT,
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_HAS_THREAD,
    MESSAGE_FLAG_LOADING,
    PRIVILEGED_INTENTS,
    THREAD_TYPES,
    ApiError,
    CallbackType,
    FakeInteraction,
    Intent,
    InteractionType,
    Permission,
    RecordedFile,
    RecordedRequest,
)
from .server import FakeDiscord
from .waiting import poll_until

__all__ = [
    "ALL_PERMISSIONS",
    "API_PREFIX",
    "API_VERSION",
    "ATTACHMENT_SIZE_LIMIT",
    "BOT_PERMISSIONS",
    "DISCORD_EPOCH_MS",
    "EVERYONE_PERMISSIONS",
    "MAX_CONTENT",
    "MESSAGE_FLAG_EPHEMERAL",
    "MESSAGE_FLAG_HAS_THREAD",
    "MESSAGE_FLAG_LOADING",
    "PRIVILEGED_INTENTS",
    "THREAD_TYPES",
    "ApiError",
    "CallbackType",
    "FakeDiscord",
    "FakeInteraction",
    "Intent",
    "InteractionType",
    "Permission",
    "RecordedFile",
    "RecordedRequest",
    "poll_until",
]
