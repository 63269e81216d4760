"""Every knob Atelier has, read from the environment and `.env` (see README for the table)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.sizes import parse_size


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Agnes, the default provider for images and chat.
    agnes_api_key: SecretStr | None = None
    agnes_base_url: str = "https://apihub.agnes-ai.com/v1"
    image_model: str = "agnes-image-2.1-flash"
    chat_model: str = "agnes-2.0-flash"
    chat_system_prompt: str = "You are Atelier, a helpful assistant in a community chat. Answer concisely."
    chat_history_turns: int = Field(default=20, ge=1, le=200)

    # Storage.
    database_url: str = "sqlite:///./data/atelier.db"
    result_retention_days: int = Field(default=14, ge=1)

    # Generation defaults and limits.
    default_size: str = "1024x1024"
    allowed_sizes: str = (
        "512x512,768x768,1024x1024,1024x768,768x1024,1152x896,896x1152,1280x720,720x1280,1536x1024,1024x1536,2048x2048"
    )
    max_prompt_chars: int = Field(default=4000, ge=1)
    max_input_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_input_megapixels: float = Field(default=40.0, gt=0)
    max_result_download_bytes: int = Field(default=50 * 1024 * 1024, ge=1)

    # Quotas and rate limits (guild admins can override the three of them with `settings`).
    quota_images_per_user_per_day: int = Field(default=20, ge=0)
    quota_images_per_guild_per_day: int = Field(default=200, ge=0)
    rate_limit_per_user_per_minute: int = Field(default=6, ge=0)

    # Outside calls.
    provider_timeout_seconds: float = Field(default=120.0, gt=0)
    provider_deadline_seconds: float = Field(default=300.0, gt=0)
    provider_max_retries: int = Field(default=3, ge=0)

    # Other providers (issue 5). Each is enabled by its key (A1111 by its URL); comma lists name models.
    agnes_max_concurrency: int = Field(default=8, ge=1)
    agnic_api_key: SecretStr | None = None
    agnic_base_url: str = "https://api.agnic.ai/v1"  # https://openrouter.ai/api/v1 works the same
    agnic_models: str = "google/gemini-2.0-flash"
    agnic_max_concurrency: int = Field(default=4, ge=1)
    apiframe_api_key: SecretStr | None = None
    apiframe_base_url: str = "https://api.apiframe.pro"
    apiframe_auth_scheme: str = ""  # empty: the raw key in Authorization; "Bearer" for old SDK behaviour
    apiframe_models: str = "flux-pro,flux-pro-1.1,flux-pro-1.1-ultra,flux-dev,flux-schnell"
    apiframe_max_concurrency: int = Field(default=4, ge=1)
    apiframe_poll_seconds: float = Field(default=1.0, gt=0)  # first /fetch delay, growing to the max
    apiframe_poll_max_seconds: float = Field(default=5.0, gt=0)
    apiframe_webhook_poll_seconds: float = Field(default=15.0, gt=0)  # fallback polling while webhooks are on
    public_base_url: str | None = None  # set to receive APIFRAME webhooks at {PUBLIC_BASE_URL}/webhooks/apiframe
    webhook_listen: str = "0.0.0.0:8080"
    apiframe_webhook_secret: SecretStr | None = None  # random per process when unset
    relay_api_key: SecretStr | None = None
    relay_base_url: str = "https://relaygpu.com"
    relay_async: bool = True
    relay_models: str = "flux-2-pro,gemini-3,gpt-image,qwen,stable-diffusion"
    relay_max_concurrency: int = Field(default=6, ge=1)
    relay_poll_wait_seconds: int = Field(default=10, ge=1, le=30)  # long-poll `wait` for /v2/tasks/{id}
    relay_poll_seconds: float = Field(default=1.0, gt=0)
    a1111_base_url: str | None = None
    a1111_username: str | None = None
    a1111_password: SecretStr | None = None
    a1111_max_concurrency: int = Field(default=1, ge=1)
    a1111_denoising_strength: float = Field(default=0.6, ge=0, le=1)
    a1111_progress_seconds: float = Field(default=1.0, gt=0)

    # Platforms.
    telegram_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_webhook_listen: str = "0.0.0.0:8443"
    discord_token: SecretStr | None = None
    discord_guild_ids: str = ""

    # Telegram: pacing of message edits (Telegram flood-limits edits too) and small adapter knobs.
    telegram_stream_edit_seconds_private: float = Field(default=1.5, gt=0)  # streamed answers, private chats
    telegram_stream_edit_seconds_group: float = Field(default=3.0, gt=0)  # streamed answers, groups (~20/min)
    telegram_progress_edit_seconds: float = Field(default=4.0, gt=0)  # the status message of an image job
    telegram_progress_delay_seconds: float = Field(default=1.0, ge=0)  # no status message for faster jobs
    telegram_chat_action_seconds: float = Field(default=4.5, gt=0)  # "sending photo…" lasts about 5 s
    telegram_admin_cache_seconds: float = Field(default=60.0, ge=0)  # getChatMember answers kept this long

    # Discord: intents, pacing of message edits and the upload cap (the guild's own limit applies too).
    discord_message_content: bool = True  # privileged intent; off: thread chat only answers mentions
    discord_stream_edit_seconds: float = Field(default=1.0, gt=0)  # streamed answers: seconds between edits
    discord_progress_edit_seconds: float = Field(default=1.0, gt=0)  # the status of an image job
    discord_progress_delay_seconds: float = Field(default=1.0, ge=0)  # jobs faster than this show no status
    discord_max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)  # larger results are re-encoded

    @field_validator("default_size")
    @classmethod
    def _valid_default_size(cls, value: str) -> str:
        parse_size(value)
        return value

    @field_validator("allowed_sizes")
    @classmethod
    def _valid_allowed_sizes(cls, value: str) -> str:
        for item in value.split(","):
            parse_size(item.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _sqlite_only(cls, value: str) -> str:
        if not value.startswith("sqlite:///"):
            raise ValueError("only sqlite:///path URLs are supported")
        return value

    @property
    def database_path(self) -> Path:
        return Path(self.database_url.removeprefix("sqlite:///"))

    @property
    def size_allow_list(self) -> list[tuple[int, int]]:
        return [parse_size(item.strip()) for item in self.allowed_sizes.split(",") if item.strip()]

    @property
    def discord_guild_id_list(self) -> list[int]:
        return [int(item) for item in self.discord_guild_ids.split(",") if item.strip()]


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line naming it."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise SettingsError(f"Setting {name} is invalid: {first['msg']}") from None
