"""Issue 10 in the console: its user moderates their own scope with /mod (the same core command), /help
lists the moderation commands the console has, the transcript is the moderators' desk once `/mod logchannel`
is run there, and a result a server would spoiler is saved as usual with a line saying it was flagged."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from adapters.console.desk import ConsoleDesk
from adapters.console.terminal import FLAGGED, ConsoleReply, LastResult, Terminal
from bot.messages import Delivery, ResultImage
from bot.moderation.desk import DeskItem, ModVerb
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.moderation_kit import fake_moderation_fixture  # noqa: F401 - a pytest fixture
from tests.test_console import run_cli, saved_paths

RESULT_COLOUR = (200, 80, 40)  # what the fake Agnes draws


def agnes_env(fake: FakeAgnes) -> dict[str, str]:
    return {"AGNES_API_KEY": fake.api_key, "AGNES_BASE_URL": fake.base_url}


def moderated_env(agnes: FakeAgnes, moderation: FakeModeration) -> dict[str, str]:
    assert moderation.api_key is not None
    return {**agnes_env(agnes), "MODERATION_API_URL": moderation.base_url, "MODERATION_API_KEY": moderation.api_key}


async def test_a_blocked_term_refuses_an_evasive_imagine_for_nothing(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    script = "/mod block add lighthouse\n/imagine a L1GHT-house at dusk\n/usage\n/mod block list\n/mod log 3\n"
    code, out, err = await run_cli(["console"], script, agnes_env(fake_agnes), tmp_path)
    assert code == 0, err
    assert 'Blocked "lighthouse"' in out
    assert "! I can't make that: it contains a term blocked here. Nothing was charged" in out
    assert not fake_agnes.image_requests()  # nothing went upstream
    assert "Images today: you 0/20" in out  # and nothing was charged
    assert "Blocked here (1):\nlighthouse" in out
    assert "· refused · " in out and "· mod_action · " in out and "block add lighthouse" in out
    assert "Traceback" not in out + err


async def test_help_lists_the_console_moderation_commands(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    code, out, err = await run_cli(["console"], "/help\n", agnes_env(fake_agnes), tmp_path)
    assert code == 0, err
    assert "/imagine <prompt>" in out and "@photo.png" in out  # the console's own help, first
    for taught in (
        "/mod block add",
        "/mod block list",
        "/mod strictness",
        "/mod output",
        "/mod log",
        "/mod logchannel",
    ):
        assert taught in out
    for not_here in ("/mod roles", "/mod ban", "/mod channel", "/mod review", "button", "reply to"):
        assert not_here not in out


async def test_the_console_is_its_own_moderators_desk(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_moderation: FakeModeration
) -> None:
    fake_moderation.flag_images(colour=RESULT_COLOUR, violence=0.9)
    script = "\n".join(
        [
            "/mod logchannel",
            "/mod output spoiler",
            "/imagine a fox",  # flagged, shown behind a spoiler on chat platforms: saved, and said so
            "/mod output withhold",
            "/imagine a hare",  # flagged and withheld: only the moderators' copy is saved
            "/mod",
        ]
    )
    code, out, err = await run_cli(
        ["console", "--out", "shots"], script + "\n", moderated_env(fake_agnes, fake_moderation), tmp_path
    )
    assert code == 0, err
    assert "This is now the moderators' channel" in out
    fox, hare = out.split("/mod output")[0], out.split("now withheld")[1]
    assert FLAGGED in out
    assert "[moderation] alert #" in fox and "“a fox”" in fox and "violence" in fox
    assert "[moderation] alert #" in hare and "held back by this server's moderation" in hare
    saved = saved_paths(out, tmp_path)
    results = [path for path in saved if not path.name.startswith("alert-")]
    alerts = [path for path in saved if path.name.startswith("alert-")]
    assert len(results) == 1 and len(alerts) == 2  # the withheld hare is only in the moderators' copy
    for path in saved:
        with Image.open(path) as image:
            assert image.format == "PNG"
    assert "Moderators' channel: set" in out and "Flagged results: withheld" in out
    assert "Strictness: medium (a moderation model checks prompts and results)" in out
    assert fake_moderation.api_key and fake_moderation.api_key not in out + err


async def test_a_spoilered_result_is_saved_with_a_line_saying_it_was_flagged(tmp_path: Path) -> None:
    out = io.StringIO()
    last = LastResult()
    reply = ConsoleReply(Terminal(out, 5.0), last, tmp_path)
    image = ResultImage(png_bytes(8, 8), "image/png", 8, 8)
    await reply.send_images(Delivery("job1", [image], "a fox", [], spoiler=True))
    assert out.getvalue().splitlines() == ["a fox", FLAGGED, f"saved {tmp_path / 'job1-0.png'}"]
    assert (tmp_path / "job1-0.png").read_bytes() == image.data and last.job_id == "job1"


async def test_the_console_desk_prints_held_items_and_approved_results(tmp_path: Path) -> None:
    out = io.StringIO()
    desk = ConsoleDesk(Terminal(out, 5.0), tmp_path)
    image = ResultImage(png_bytes(8, 8), "image/png", 8, 8)
    item = DeskItem("review", 3, "Review: you asked for a fox", [image], [ModVerb.APPROVE, ModVerb.REJECT])
    assert await desk.post("{}", item)
    await desk.deliver("{}", Delivery("job2", [image], "a fox", []))
    await desk.tell("{}", "A moderator turned down your image.")
    assert out.getvalue().splitlines() == [
        "[moderation] held for review #3: Review: you asked for a fox",
        f"saved {tmp_path / 'review-3-0.png'}",
        "[moderation] approved:",
        "a fox",
        f"saved {tmp_path / 'job2-0.png'}",
        "A moderator turned down your image.",
    ]
