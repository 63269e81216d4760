"""Every knob Atelier has, read from the environment and `.env` (see README for the table)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.moderation.text import check_term, operator_terms
from bot.setting_types import (
    ByteSize,
    HttpUrl,
    IdList,
    ListenAddress,
    OptionalHttpUrl,
    TelegramSecret,
    WebhookUrl,
    refuse_inline_comment,
)
from bot.sizes import format_size, parse_size
from bot.store.db import POSTGRES_SCHEMES, redact_url

__all__ = ["ByteSize", "Settings", "SettingsError", "load_settings"]

# Free text, where " #" may be meant: the only settings not checked for a comment pasted onto the value.
_FREE_TEXT = {"chat_system_prompt", "a1111_password", "moderation_blocklist"}


class Settings(BaseSettings):
    # An empty value (`TELEGRAM_TOKEN=` as copied from .env.example) means unset: the default applies.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    # Agnes, the default provider for images and chat.
    agnes_api_key: SecretStr | None = None
    agnes_base_url: HttpUrl = "https://apihub.agnes-ai.com/v1"
    agnes_models: str = "agnes-image-2.1-flash"  # the image models Agnes offers (comma list)
    # Cloud providers: *_MAX_CONCURRENCY is a ceiling; the limit halves on 429/503 and grows back per success.
    agnes_max_concurrency: int = Field(default=64, ge=1)
    image_model: str = "agnes-image-2.1-flash"
    # Images per /imagine where the prompt gives no --n (1, 2 or 4); servers may choose their own.
    images_per_prompt: int = 1
    chat_model: str = "agnes-2.0-flash"
    chat_system_prompt: str = "You are Atelier, a helpful assistant in a community chat. Answer concisely."
    chat_history_turns: int = Field(default=20, ge=1, le=200)
    # Tool calls (draw, edit) the chat model may make while answering one message; 0 offers it no tools.
    chat_max_tool_calls: int = Field(default=3, ge=0, le=10)

    # Storage.
    database_url: str = "sqlite:///./data/atelier.db"  # or postgresql://user:password@host:port/database
    # Files kept on disk (result images for buttons, the console log); default: the SQLite file's folder,
    # ./data with PostgreSQL. Several machines on one PostgreSQL each keep their own (or share a mount).
    data_dir: Path | None = None
    result_retention_days: int = Field(default=14, ge=1)
    chat_history_retention_days: int = Field(default=30, ge=1)

    # Generation defaults and limits.
    default_size: str = "1024x1024"
    allowed_sizes: str = (
        "512x512,768x768,1024x1024,1024x768,768x1024,1152x896,896x1152,1280x720,720x1280,1536x1024,1024x1536,2048x2048"
    )
    max_prompt_chars: int = Field(default=4000, ge=1)
    max_input_image_bytes: ByteSize = Field(default=20 * 1024 * 1024, ge=1)
    max_input_megapixels: float = Field(default=40.0, gt=0)
    max_result_download_bytes: ByteSize = Field(default=50 * 1024 * 1024, ge=1)
    # Result images have their own limits (however they arrive); inputs keep theirs.
    max_result_bytes: ByteSize = Field(default=50 * 1024 * 1024, ge=1)
    max_result_megapixels: float = Field(default=100.0, gt=0)

    # Quotas and rate limits (guild admins can override the three of them with `settings`).
    quota_images_per_user_per_day: int = Field(default=20, ge=0)
    quota_images_per_guild_per_day: int = Field(default=200, ge=0)
    rate_limit_per_user_per_minute: int = Field(default=6, ge=0)
    rate_limit_chat_per_user_per_minute: int = Field(default=20, ge=0)
    rate_limit_per_guild_per_minute: int = Field(default=0, ge=0)  # image requests a server/group makes; 0: none

    # Outside calls.
    provider_timeout_seconds: float = Field(default=120.0, gt=0)
    provider_deadline_seconds: float = Field(default=300.0, gt=0)
    # Uploading a finished result (flood-control waits included); past it the job is refunded.
    delivery_deadline_seconds: float = Field(default=120.0, gt=0)
    # On SIGTERM: how long running jobs get to finish and deliver before they are cut off and refunded.
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    provider_max_retries: int = Field(default=3, ge=0)
    # Cap on every provider answer (JSON bodies, polls, chat streams): an endless answer fails cleanly.
    provider_max_response_bytes: ByteSize = Field(default=80 * 1024 * 1024, ge=1024)

    # Other providers (issue 5). Each is enabled by its key (A1111 by its URL); comma lists name models.
    agnic_api_key: SecretStr | None = None
    agnic_base_url: HttpUrl = "https://api.agnic.ai/v1"  # https://openrouter.ai/api/v1 works the same
    agnic_models: str = "google/gemini-2.0-flash"
    agnic_max_concurrency: int = Field(default=64, ge=1)  # a ceiling, adaptive like Agnes
    apiframe_api_key: SecretStr | None = None
    apiframe_base_url: HttpUrl = "https://api.apiframe.pro"
    apiframe_auth_scheme: str = ""  # empty: the raw key in Authorization; "Bearer" for old SDK behaviour
    apiframe_models: str = "flux-pro,flux-pro-1.1,flux-pro-1.1-ultra,flux-dev,flux-schnell"
    apiframe_max_concurrency: int = Field(default=64, ge=1)  # a ceiling, adaptive like Agnes
    apiframe_poll_seconds: float = Field(default=1.0, gt=0)  # first /fetch delay, growing to the max
    apiframe_poll_max_seconds: float = Field(default=5.0, gt=0)
    apiframe_webhook_poll_seconds: float = Field(default=15.0, gt=0)  # fallback polling while webhooks are on
    public_base_url: OptionalHttpUrl = None  # set to receive APIFRAME webhooks at {PUBLIC_BASE_URL}/webhooks/apiframe
    webhook_listen: ListenAddress = "0.0.0.0:8080"
    apiframe_webhook_secret: SecretStr | None = None  # random per process when unset
    relay_api_key: SecretStr | None = None
    relay_base_url: HttpUrl = "https://relaygpu.com"
    relay_async: bool = True
    relay_models: str = "flux-2-pro,gemini-3,gpt-image,qwen,stable-diffusion"
    relay_max_concurrency: int = Field(default=64, ge=1)  # a ceiling, adaptive like Agnes
    relay_poll_wait_seconds: int = Field(default=10, ge=1, le=30)  # long-poll `wait` for /v2/tasks/{id}
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    a1111_base_url: OptionalHttpUrl = None
    a1111_username: str | None = None
    a1111_password: SecretStr | None = None
    a1111_max_concurrency: int = Field(default=1, ge=1)  # a fixed cap: self-hosted GPUs run one job well
    a1111_denoising_strength: float = Field(default=0.6, ge=0, le=1)
    a1111_progress_seconds: float = Field(default=1.0, gt=0)

    # Moderation (see README "Moderating a server"). The blocklist applies everywhere; the model is optional.
    moderation_blocklist: str = ""  # comma list of terms; `re:<regex>` for a pattern
    moderation_api_url: OptionalHttpUrl = None  # an OpenAI-compatible base URL; POST {url}/moderations
    moderation_api_key: SecretStr | None = None
    moderation_model: str = "omni-moderation-latest"
    moderation_strictness: Literal["low", "medium", "high"] = "medium"  # servers may choose their own
    moderation_on_failure: Literal["closed", "open"] = "closed"  # the moderation service down: refuse, or allow
    moderation_output: Literal["withhold", "spoiler"] = "withhold"  # flagged results; servers may choose
    moderation_timeout_seconds: float = Field(default=10.0, gt=0)
    allow_private_chats: bool = True  # off: DMs and private chats are refused (the console never is)

    # Platforms.
    telegram_token: SecretStr | None = None
    telegram_base_url: HttpUrl = "https://api.telegram.org/bot"
    telegram_base_file_url: HttpUrl = "https://api.telegram.org/file/bot"
    telegram_webhook_url: WebhookUrl = None
    telegram_webhook_secret: TelegramSecret = None
    telegram_webhook_listen: ListenAddress = "0.0.0.0:8443"
    discord_token: SecretStr | None = None
    discord_guild_ids: IdList = ""
    discord_shard_count: int | None = Field(default=None, ge=1)  # unset: one process runs what Discord recommends
    discord_shard_ids: str = ""  # the shards this process runs ("0-3" or "0,2"); empty: all of DISCORD_SHARD_COUNT

    # Telegram: pacing of message edits (Telegram flood-limits edits too) and small adapter knobs.
    # The pace of a chat's one queue: every message or edit in it, streamed answers included.
    telegram_stream_edit_seconds_private: float = Field(default=1.5, gt=0)  # private chats
    telegram_stream_edit_seconds_group: float = Field(default=3.0, gt=0)  # groups (~20 messages a minute)
    telegram_progress_edit_seconds: float = Field(default=4.0, gt=0)  # the status message of an image job
    telegram_progress_delay_seconds: float = Field(default=2.0, ge=0)  # no status message for faster jobs
    telegram_chat_action_seconds: float = Field(default=4.5, gt=0)  # "sending photo…" lasts about 5 s
    telegram_admin_cache_seconds: float = Field(default=60.0, ge=0)  # getChatMember answers kept this long
    telegram_album_wait_seconds: float = Field(default=0.8, ge=0)  # an album's photos arrive as separate updates

    # Discord: intents, pacing of message edits and the upload cap (the guild's own limit applies too).
    discord_message_content: bool = True  # privileged intent; off: thread chat only answers mentions
    discord_stream_edit_seconds: float = Field(default=1.0, gt=0)  # streamed answers: seconds between edits
    discord_progress_edit_seconds: float = Field(default=1.0, gt=0)  # the status of an image job
    discord_progress_delay_seconds: float = Field(default=2.0, ge=0)  # jobs faster than this show no status
    discord_max_upload_bytes: ByteSize = Field(default=10 * 1024 * 1024, ge=64 * 1024)  # larger results are re-encoded

    # Console (`atelier console`).
    console_progress_seconds: float = Field(default=5.0, gt=0)  # piped output: a progress line this often
    console_log_file: str | None = None  # unset: atelier-console.log beside the database

    # Operating: health and metrics, logs.
    metrics_listen: ListenAddress | None = None  # e.g. 0.0.0.0:9090: GET /healthz and /metrics; unset: none
    log_format: Literal["text", "json"] = "text"  # json: one JSON object a line, for a log collector

    @field_validator("*", mode="before")
    @classmethod
    def _plain_value(cls, value: Any, info: ValidationInfo) -> Any:
        """Blank means unset (as empty does); a comment pasted onto the value is refused."""
        if not isinstance(value, str) or info.field_name in _FREE_TEXT:
            return value
        if not value.strip() and info.field_name:
            return cls.model_fields[info.field_name].default
        return refuse_inline_comment(value.strip())

    @field_validator("default_size")
    @classmethod
    def _valid_default_size(cls, value: str) -> str:
        parse_size(value)
        return value

    @field_validator("moderation_blocklist")
    @classmethod
    def _usable_terms(cls, value: str) -> str:
        for term in operator_terms(value):
            check_term(term)  # BadTerm is a ValueError: the message names the term and what is wrong
        return value

    @field_validator("allowed_sizes")
    @classmethod
    def _valid_allowed_sizes(cls, value: str) -> str:
        sizes = [parse_size(item) for item in value.split(",") if item.strip()]
        if not sizes:
            raise ValueError("list at least one size, e.g. 1024x1024,1280x720")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Settings that are each valid but contradict one another; the message names the one to change."""
        allowed = self.size_allow_list
        if parse_size(self.default_size) not in allowed:
            listing = ", ".join(format_size(size) for size in allowed)
            raise ValueError(
                f"Setting DEFAULT_SIZE is invalid: {self.default_size} is not in ALLOWED_SIZES ({listing})"
            )
        if self.apiframe_poll_seconds > self.apiframe_poll_max_seconds:
            raise ValueError("Setting APIFRAME_POLL_SECONDS is invalid: it is above APIFRAME_POLL_MAX_SECONDS")
        if self.a1111_username and self.a1111_password is None:
            raise ValueError("Setting A1111_PASSWORD is missing: A1111_USERNAME is set, so the password is needed too")
        apiframe_hooks = self.apiframe_api_key is not None and self.public_base_url
        telegram_hooks = self.telegram_token is not None and self.telegram_webhook_url
        if apiframe_hooks and telegram_hooks and _same_address(self.webhook_listen, self.telegram_webhook_listen):
            raise ValueError(
                "Setting WEBHOOK_LISTEN is invalid: APIFRAME and Telegram webhooks would both listen on "
                f"{self.webhook_listen}; give TELEGRAM_WEBHOOK_LISTEN another port"
            )
        listeners = [("WEBHOOK_LISTEN", self.webhook_listen)] if apiframe_hooks else []
        listeners += [("TELEGRAM_WEBHOOK_LISTEN", self.telegram_webhook_listen)] if telegram_hooks else []
        for name, listen in listeners:
            if self.metrics_listen and _same_address(self.metrics_listen, listen):
                raise ValueError(f"Setting METRICS_LISTEN is invalid: {name} listens on {listen}; pick another port")
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value.startswith(POSTGRES_SCHEMES):
            parts = urlsplit(value)
            try:
                parts.port  # noqa: B018  (raises on a port that is not a number)
            except ValueError:
                raise ValueError(f"the port of {redact_url(value)} is not a number") from None
            if not parts.hostname and "host=" not in parts.query:
                raise ValueError(f"{redact_url(value)} names no host")
            return value
        if not value.startswith("sqlite:///"):
            raise ValueError("expected sqlite:///path or postgresql://user:password@host:port/database")
        return value

    @property
    def database_is_postgres(self) -> bool:
        return self.database_url.startswith(POSTGRES_SCHEMES)

    @property
    def database_path(self) -> Path:
        """The SQLite file (SQLite URLs only)."""
        if self.database_is_postgres:
            raise ValueError("DATABASE_URL is a PostgreSQL URL, not a SQLite file")
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def files_dir(self) -> Path:
        """DATA_DIR, or its default: the SQLite file's folder, ./data with PostgreSQL."""
        if self.data_dir is not None:
            return self.data_dir
        return Path("data") if self.database_is_postgres else self.database_path.parent

    @property
    def size_allow_list(self) -> list[tuple[int, int]]:
        return [parse_size(item.strip()) for item in self.allowed_sizes.split(",") if item.strip()]

    @property
    def discord_guild_id_list(self) -> list[int]:
        return [int(item) for item in self.discord_guild_ids.split(",") if item.strip()]


def _same_address(one: str, other: str) -> bool:
    """Whether two `host:port` listeners would collide (port 0 picks a free port, never colliding)."""
    (host_a, _, port_a), (host_b, _, port_b) = one.rpartition(":"), other.rpartition(":")
    wildcard = {"", "0.0.0.0", "::", "[::]"}
    return port_a == port_b != "0" and (host_a == host_b or host_a in wildcard or host_b in wildcard)


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None
    except UnicodeDecodeError:
        raise SettingsError("The .env file is not UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        raise SettingsError(f"The .env file cannot be read: {exc.strerror or exc}") from None


def _one_line(exc: ValidationError) -> str:
    """The first problem, naming its setting; never the value (it may be a secret)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not first["loc"]:  # a cross-setting check: its message names the setting itself
        return message
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"Setting {str(first['loc'][0]).upper()} is invalid: {message}{more}"
