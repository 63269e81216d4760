"""`/settings` values a newcomer types in `atelier console`: refused in one clear line, never a crash."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.agnes_server import FakeAgnes
from tests.test_console import run_cli, saved_paths


async def test_console_refuses_odd_rates_and_keeps_going(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    script = ["/settings rate \u00b2", "/settings rate 0", "/imagine a cat", "/settings"]
    env = {"AGNES_API_KEY": fake_agnes.api_key, "AGNES_BASE_URL": fake_agnes.base_url}
    code, out, err = await run_cli(["console", "--out", "shots"], "\n".join(script) + "\n", env, tmp_path)

    assert code == 0, err
    assert "Traceback" not in out + err
    refusal = (
        "! rate takes a whole number from 1 to 6 "
        "(image requests per member per minute; no limit at all is the operator's choice)."
    )
    assert out.count(refusal) == 2
    assert len(saved_paths(out, tmp_path)) == 1  # before: every request after `rate 0` died of IndexError
    assert "rate = 6 (image requests per member per minute)" in out


async def test_console_with_no_rate_limit_says_it_is_off(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    env = {
        "AGNES_API_KEY": fake_agnes.api_key,
        "AGNES_BASE_URL": fake_agnes.base_url,
        "RATE_LIMIT_PER_USER_PER_MINUTE": "0",
    }
    script = "\n".join(["/imagine a cat", "/imagine a dog", "/settings"]) + "\n"
    code, out, err = await run_cli(["console", "--out", "shots"], script, env, tmp_path)
    assert code == 0 and "Traceback" not in out + err, err
    assert len(saved_paths(out, tmp_path)) == 2
    assert "rate = 0 (off: no per-minute limit)" in out
