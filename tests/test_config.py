"""Settings as an operator writes them: `.env.example` and the README agree with `bot/config.py`, byte sizes
read like `20MB`, empty or blank values mean unset, and a bad or contradictory value is one line naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parent.parent
SETTING_LINE = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
FIELDS = {name.upper(): name for name in Settings.model_fields}


def example_lines() -> list[tuple[int, bool, str, str]]:
    """(line number, commented out, NAME, value) for every setting line of .env.example."""
    found = []
    for number, line in enumerate((ROOT / ".env.example").read_text().splitlines(), 1):
        match = SETTING_LINE.match(line)
        if match:
            found.append((number, match.group(1) is not None, match.group(2), match.group(3)))
    return found


def load(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


def refusal(**values: object) -> str:
    with pytest.raises(SettingsError) as caught:
        load(**values)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_env_example_lists_every_setting_once_and_nothing_else() -> None:
    names = [name for _, _, name, _ in example_lines()]
    assert sorted(set(FIELDS) - set(names)) == [], "settings missing from .env.example"
    assert sorted(set(names) - set(FIELDS)) == [], ".env.example names settings bot/config.py does not have"
    assert len(names) == len(set(names)), "a setting appears twice"


def test_env_example_has_no_comment_or_quote_on_a_value_line() -> None:
    # `docker run --env-file` keeps everything after `=`: a comment or quotes there become the value.
    for number, _, name, value in example_lines():
        assert "#" not in value, f".env.example line {number}: comment on the value line of {name}"
        assert not value.startswith(("'", '"')), f".env.example line {number}: quoted value of {name}"
        assert value == value.strip(), f".env.example line {number}: spaces around the value of {name}"


def test_env_example_values_are_valid_and_shown_defaults_are_the_defaults(tmp_path: Path) -> None:
    lines = example_lines()
    uncommented = "\n".join(f"{name}={value}" for _, _, name, value in lines)
    (tmp_path / "all.env").write_text(uncommented + "\n")
    everything = load_settings(_env_file=tmp_path / "all.env")  # every line uncommented at once: still valid
    defaults = load()
    for number, _, name, value in lines:
        field = FIELDS[name]
        default = Settings.model_fields[field].default
        if value and default not in (None, ""):
            assert getattr(everything, field) == getattr(defaults, field), f".env.example line {number}: {name}"


def test_copying_env_example_leaves_every_setting_at_its_default(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    copied = load_settings(_env_file=tmp_path / ".env")
    # The empty AGNES_API_KEY=, TELEGRAM_TOKEN= and DISCORD_TOKEN= lines mean unset, not "set to nothing".
    assert copied.agnes_api_key is None and copied.telegram_token is None and copied.discord_token is None
    assert copied == load()


def test_readme_tables_document_every_setting() -> None:
    rows = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("|")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(rows)))
    assert sorted(set(FIELDS) - documented) == [], "settings missing from the README's tables"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20MB", 20 * 1024**2),
        ("512KB", 512 * 1024),
        ("1.5 GB", int(1.5 * 1024**3)),
        ("20 MiB", 20 * 1024**2),
        ("64k", 64 * 1024),
        ("7340032", 7340032),
        (" 100B ", 100),
    ],
)
def test_byte_sizes_read_like_people_write_them(text: str, expected: int) -> None:
    settings = load(max_input_image_bytes=text, max_result_download_bytes=text, discord_max_upload_bytes="1MB")
    assert settings.max_input_image_bytes == expected and settings.max_result_download_bytes == expected


@pytest.mark.parametrize("text", ["20 parsecs", "MB", "-5MB", "1e6"])
def test_a_byte_size_that_is_not_one_is_refused_by_name(text: str) -> None:
    message = refusal(max_input_image_bytes=text)
    assert message.startswith("Setting MAX_INPUT_IMAGE_BYTES is invalid:")
    assert "like 20MB" in message


def test_every_byte_setting_takes_units() -> None:
    byte_fields = [name for name in Settings.model_fields if name.endswith("_bytes")]
    assert byte_fields
    settings = load(**{name: "2MB" for name in byte_fields})
    assert all(getattr(settings, name) == 2 * 1024**2 for name in byte_fields)


def test_empty_and_blank_values_mean_unset(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("AGNES_API_KEY=\nTELEGRAM_TOKEN=   \nIMAGE_MODEL=\nDEFAULT_SIZE= \nRELAY_ASYNC=\n")
    settings = load_settings(_env_file=env)
    assert settings.agnes_api_key is None and settings.telegram_token is None
    assert settings.image_model == "agnes-image-2.1-flash" and settings.default_size == "1024x1024"
    assert settings.relay_async is True


def test_a_comment_on_a_value_line_is_refused_without_showing_the_value(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("IMAGE_MODEL='agnes-image-2.1-flash   # or relay:flux-2-pro'\n")  # what docker would pass
    with pytest.raises(SettingsError, match=r"^Setting IMAGE_MODEL is invalid: .*own line"):
        load_settings(_env_file=env)
    message = refusal(agnes_api_key="sk-live-123 # my key")
    assert message.startswith("Setting AGNES_API_KEY is invalid") and "sk-live-123" not in message
    # A prompt is free text: a "#" there is the operator's.
    assert load(chat_system_prompt="Answer in #markdown").chat_system_prompt == "Answer in #markdown"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"default_size": "2048x512"}, "Setting DEFAULT_SIZE is invalid: 2048x512 is not in ALLOWED_SIZES (512x512, "),
        (
            {"default_size": "1280x720", "allowed_sizes": "1024x1024,1536x1024"},
            "Setting DEFAULT_SIZE is invalid: 1280x720 is not in ALLOWED_SIZES (1024x1024, 1536x1024)",
        ),
        ({"allowed_sizes": " , "}, "Setting ALLOWED_SIZES is invalid: list at least one size"),
        ({"apiframe_poll_seconds": 10}, "Setting APIFRAME_POLL_SECONDS is invalid: it is above"),
        ({"a1111_username": "admin"}, "Setting A1111_PASSWORD is missing"),
        ({"telegram_webhook_url": "http://bot.example.org/tg"}, "Setting TELEGRAM_WEBHOOK_URL is invalid: Telegram"),
        ({"telegram_webhook_secret": "not allowed!"}, "Setting TELEGRAM_WEBHOOK_SECRET is invalid: Telegram accepts"),
        ({"discord_guild_ids": "1234,my-server"}, "Setting DISCORD_GUILD_IDS is invalid: expected comma-separated"),
        ({"webhook_listen": "8080"}, "Setting WEBHOOK_LISTEN is invalid: '8080' is not an address"),
        ({"telegram_webhook_listen": "0.0.0.0:99999"}, "Setting TELEGRAM_WEBHOOK_LISTEN is invalid"),
        ({"agnes_base_url": "apihub.agnes-ai.com/v1"}, "Setting AGNES_BASE_URL is invalid: 'apihub.agnes-ai.com/v1'"),
        ({"a1111_base_url": "127.0.0.1:7860"}, "Setting A1111_BASE_URL is invalid"),
        (
            {"database_url": "mysql://db/atelier"},
            "Setting DATABASE_URL is invalid: expected sqlite:///path or postgresql://",
        ),
        (
            {"database_url": "postgresql://u:pw@db:port/atelier"},
            "Setting DATABASE_URL is invalid: the port of postgresql://***@db:port/atelier is not",
        ),
        (
            {
                "apiframe_api_key": "af",
                "public_base_url": "https://bot.example.org",
                "telegram_token": "1:t",
                "telegram_webhook_url": "https://bot.example.org/telegram",
                "telegram_webhook_listen": "127.0.0.1:8080",
            },
            "Setting WEBHOOK_LISTEN is invalid: APIFRAME and Telegram webhooks would both listen on 0.0.0.0:8080",
        ),
    ],
)
def test_contradictory_or_malformed_settings_are_one_line_naming_the_setting(
    values: dict[str, object], expected: str
) -> None:
    assert refusal(**values).startswith(expected)


def test_well_formed_values_are_accepted() -> None:
    settings = load(
        a1111_base_url="http://[::1]:7860",
        a1111_username="admin",
        a1111_password="pw # with a hash",
        telegram_token="1:t",
        telegram_webhook_url="https://bot.example.org/telegram",
        telegram_webhook_secret="s3cret-Token_1",
        apiframe_api_key="af",
        public_base_url="https://bot.example.org",  # its receiver on 0.0.0.0:8080, Telegram's on :8443
        discord_guild_ids="123456789012345678, 234567890123456789",
        allowed_sizes="1024x1024,1280x720,",
        default_size="1280x720",
    )
    assert settings.discord_guild_id_list == [123456789012345678, 234567890123456789]
    assert settings.size_allow_list == [(1024, 1024), (1280, 720)]


def test_several_problems_report_the_first_and_count_the_rest() -> None:
    message = refusal(quota_images_per_user_per_day="many", rate_limit_per_user_per_minute="lots")
    assert message.startswith("Setting QUOTA_IMAGES_PER_USER_PER_DAY is invalid:") and message.endswith("(and 1 more)")


@pytest.mark.parametrize(
    ("blocklist", "named"),
    [("spam, re:(unclosed", "`(unclosed` is not a valid regular expression"), ("spam, !!", "`!!` has no letter")],
)
def test_an_operator_blocklist_term_that_cannot_be_used_stops_the_bot_by_name(blocklist: str, named: str) -> None:
    # A term skipped quietly would be a hole in moderation; a raw error at the first prompt would be worse.
    with pytest.raises(SettingsError, match=re.escape(f"Setting MODERATION_BLOCKLIST is invalid: {named}")):
        load_settings(moderation_blocklist=blocklist)
    assert load_settings(moderation_blocklist="spam, re:sp[a4]m+, , ").moderation_blocklist
