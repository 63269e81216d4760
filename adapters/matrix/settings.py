"""The Matrix adapter's own settings (MATRIX_*), read from the environment and .env like the core's: the
core's Settings need not know this platform exists. Set MATRIX_HOMESERVER, MATRIX_USER_ID and either
MATRIX_ACCESS_TOKEN or MATRIX_PASSWORD (logged in once; the device and token are kept in the store)."""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config import SettingsError, _one_line


class MatrixSettings(BaseSettings):
    # An empty value (`MATRIX_PASSWORD=`) means unset, as for the core's settings.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    matrix_homeserver: str | None = None  # the client-server API's base URL, e.g. https://matrix.example.org
    matrix_user_id: str | None = None  # the bot's account, e.g. @atelier:example.org
    matrix_access_token: SecretStr | None = None
    matrix_password: SecretStr | None = None  # used once: the device and token it gives are kept in the store
    matrix_device_name: str = "Atelier"
    # Streamed answers: at most one edit this often (Discord's pace); rate limits can only slow it further.
    matrix_edit_seconds: float = Field(1.0, gt=0)
    # The longest one M_LIMIT_EXCEEDED is waited out before the message is given up.
    matrix_rate_limit_max_wait_seconds: float = Field(120.0, gt=0)
    matrix_request_timeout_seconds: float = Field(30.0, gt=0)
    matrix_sync_timeout_seconds: float = Field(30.0, gt=0)  # the long poll's length
    # A running image job's "working" notice (with ✖️ to cancel) only after this long: quick jobs need none.
    matrix_progress_delay_seconds: float = Field(3.0, ge=0)

    @property
    def configured(self) -> bool:
        """Enough to start: a homeserver, a user and a way to authenticate."""
        secret = self.matrix_access_token or self.matrix_password
        return bool(self.matrix_homeserver and self.matrix_user_id and secret)

    def secrets(self) -> list[str]:
        return [value.get_secret_value() for value in (self.matrix_access_token, self.matrix_password) if value]


def load_matrix_settings(**overrides: object) -> MatrixSettings:
    try:
        return MatrixSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None
