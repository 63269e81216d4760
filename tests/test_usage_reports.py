"""Issue 15 item 4, through the core's door: `/usage chart` (and the button under `/usage`, after a restart too)
sends a PNG of the last 30 days, stacked by model, with the asker's line and the quota; `/usage top` and
`/usage export` are for the scope's admins; the export has one row per image job and per chat turn."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from bot.command import Invalid
from bot.commands import usage_reports
from bot.commands.usage import CHART_BUTTON
from bot.commands.usage_reports import CSV_HEADER, NOBODY, NOT_ADMIN, export_csv
from bot.core import Atelier
from bot.messages import Action, parse_action_id
from bot.parsing import USAGE_USAGE
from bot.store.activity import ActivityRow
from bot.usage_chart import BACKGROUND, OWN_COLOUR, PLOT_BOX, QUOTA_COLOUR, ChartData, colour_of, render_chart
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, SentFile, make_request, say

QUOTAS = {"quota_images_per_user_per_day": 5, "quota_images_per_guild_per_day": 10, "rate_limit_per_user_per_minute": 0}
Box = tuple[float, float, float, float]


@pytest.fixture
async def core(tmp_path: Path, fake_agnes: FakeAgnes) -> AsyncIterator[Atelier]:
    atelier = await Atelier.start(make_settings(tmp_path, fake_agnes, **QUOTAS))
    yield atelier
    await atelier.close()


async def imagine(core: Atelier, user: str = "u1", guild: str | None = "g1") -> None:
    reply = RecordingReply()
    await say(core, "/imagine a lighthouse at dusk", make_request(user, guild=guild), reply)
    assert reply.deliveries, reply.errors


async def ask(
    core: Atelier, line: str, user: str = "u1", guild: str | None = "g1", admin: bool = False
) -> RecordingReply:
    reply = RecordingReply()
    await say(core, line, make_request(user, guild=guild, admin=admin), reply)
    return reply


def only_file(reply: RecordingReply) -> SentFile:
    assert reply.errors == [] and len(reply.files) == 1, (reply.errors, reply.files)
    return reply.files[0]


def chart_of(sent: SentFile) -> Image.Image:
    assert sent.mime == "image/png" and sent.name.endswith(".png")
    image = Image.open(io.BytesIO(sent.data))
    image.load()
    assert image.format == "PNG" and image.size == (1200, 600)
    return image.convert("RGB")


def pixels(image: Image.Image, box: Box, colour: tuple[int, int, int]) -> list[tuple[int, int]]:
    """Where in `box` (left, top, right, bottom) the image is exactly `colour`."""
    left, top, right, bottom = (int(v) for v in box)
    return [(x, y) for x in range(left, right) for y in range(top, bottom) if image.getpixel((x, y)) == colour]


def today_and_before() -> tuple[Box, Box]:
    """The plot area's last day (today's bar), and all the days before it."""
    left, top, right, bottom = PLOT_BOX
    day = (right - left) / 30
    return (right - day, top, right, bottom), (left, top, right - day, bottom)


# ----------------------------------------------------------------------------------------- chart


async def test_the_chart_is_a_png_with_todays_bar_the_askers_line_and_the_quota(core: Atelier) -> None:
    await imagine(core, "u1")
    await imagine(core, "u1")
    await imagine(core, "u2")
    await imagine(core, "u3", guild="elsewhere")  # another server's image is not this one's

    sent = only_file(await ask(core, "/usage chart"))

    chart = chart_of(sent)
    today, before = today_and_before()
    bars = pixels(chart, today, colour_of(0))
    assert len(bars) > 200  # today's bar: 3 images of a 10-image axis, one model
    assert pixels(chart, before, colour_of(0)) == []  # nothing on the other days
    assert pixels(chart, PLOT_BOX, colour_of(1)) == []  # one model only: one colour
    # The asker's line marks 2 of the 3 images: its dot sits inside today's bar, well above the baseline.
    dot = [y for _, y in pixels(chart, today, OWN_COLOUR)]
    assert dot and min(dot) > min(y for _, y in bars) and max(dot) < PLOT_BOX[3] - 20
    assert len(pixels(chart, PLOT_BOX, QUOTA_COLOUR)) > 200  # the dashed quota line across the plot
    assert sent.caption == "3 images here in the last 30 days, 2 of them yours."


async def test_a_private_chats_chart_shows_the_users_own_line_against_their_quota(core: Atelier) -> None:
    await imagine(core, "u1", guild=None)
    await imagine(core, "u1", guild=None)

    sent = only_file(await ask(core, "/usage chart", guild=None))

    chart = chart_of(sent)
    today, _ = today_and_before()
    assert pixels(chart, today, colour_of(0))
    dot = [y for _, y in pixels(chart, today, OWN_COLOUR)]
    assert dot and max(dot) < PLOT_BOX[3] - 20  # at 2, the top of the bar, not on the baseline
    assert pixels(chart, PLOT_BOX, QUOTA_COLOUR)  # the user's own 5 a day
    assert sent.caption == "2 images here in the last 30 days, 2 of them yours."


def test_models_are_stacked_in_their_own_colours_and_an_empty_chart_still_draws() -> None:
    days = [f"2026-11-{day:02d}" for day in range(1, 31)]
    today_only = [0] * 29
    data = ChartData("t", days, {"a": [*today_only, 1], "b": [*today_only, 2]}, [*today_only, 1], 5)
    chart = Image.open(io.BytesIO(render_chart(data))).convert("RGB")
    today, _ = today_and_before()
    busier, other = pixels(chart, today, colour_of(0)), pixels(chart, today, colour_of(1))
    assert busier and other
    assert max(y for _, y in other) <= min(y for _, y in busier)  # the second model stacked on the first

    empty = Image.open(io.BytesIO(render_chart(ChartData("t", days, {}, [0] * 30, None)))).convert("RGB")
    assert empty.size == (1200, 600) and pixels(empty, PLOT_BOX, colour_of(0)) == []
    assert empty.getpixel((5, 5)) == BACKGROUND  # opaque, whatever the Discord theme


async def test_the_button_under_usage_draws_the_chart_after_a_restart(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes, **QUOTAS)
    first = await Atelier.start(settings)
    try:
        await imagine(first)
        shown = await ask(first, "/usage")
    finally:
        await first.close()
    [(text, buttons)] = shown.buttons
    assert text.startswith("Images today: you 1/5") and buttons == [CHART_BUTTON]
    parsed = parse_action_id(CHART_BUTTON.id)
    assert parsed == (Action.CHART, "usage")

    again = await Atelier.start(settings)  # a new process: the button names no job, only what to draw
    try:
        reply = RecordingReply()
        await again.action(*parsed, make_request(), reply)
    finally:
        await again.close()
    chart_of(only_file(reply))
    assert reply.files[0].caption.startswith("1 image here")


async def test_an_unknown_report_says_what_usage_takes(core: Atelier) -> None:
    command = core.parse("/usage weekly")
    assert isinstance(command, Invalid) and command.reason == USAGE_USAGE
    reply = await ask(core, "/usage weekly")
    assert reply.errors == [USAGE_USAGE] and reply.files == []


# ------------------------------------------------------------------------------------ top, export


async def test_top_and_export_are_refused_plainly_to_members(core: Atelier) -> None:
    await imagine(core)
    for line in ("/usage top", "/usage export"):
        reply = await ask(core, line, admin=False)
        assert reply.errors == [NOT_ADMIN] and reply.files == [] and reply.texts == []


async def test_top_ranks_this_weeks_members_by_images_and_chat_turns(core: Atelier, fake_agnes: FakeAgnes) -> None:
    assert (await ask(core, "/usage top", admin=True)).texts == [NOBODY]
    await imagine(core, "u1")
    await imagine(core, "u1")
    await imagine(core, "u2")
    for _ in range(2):
        assert (await ask(core, "what is a lighthouse?", user="u2")).streamed
    await ask(core, "hello from elsewhere", user="u3", guild="elsewhere")

    reply = await ask(core, "/usage top", admin=True)

    assert reply.texts == [
        "Most active here in the last 7 days:\n1. user u2: 1 image, 2 chat turns\n2. user u1: 2 images, 0 chat turns"
    ]


async def test_export_has_one_row_per_job_and_chat_turn_failed_ones_included(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    await imagine(core, "u1")
    await imagine(core, "u2")
    fake_agnes.faults = ["refusal"]
    failed = await ask(core, "/imagine a forbidden lighthouse")
    assert failed.errors and not failed.deliveries
    assert (await ask(core, "what is a lighthouse?", user="u2")).streamed
    await imagine(core, "u3", guild="elsewhere")

    sent = only_file(await ask(core, "/usage export", admin=True))

    assert sent.mime == "text/csv" and sent.name.endswith(".csv")
    header, *rows = list(csv.reader(io.StringIO(sent.data.decode())))
    assert tuple(header) == CSV_HEADER
    jobs = await core.store.db.fetchall("SELECT id FROM jobs WHERE scope_key = 'test:guild:g1'")
    assert len(rows) == len(jobs) + 1 == 4  # three image jobs here and one chat turn
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[0]) for row in rows)
    image_model = f"agnes:{core.settings.image_model}"
    assert [row[1:] for row in rows] == [
        ["user u1", "imagine", image_model, "done", "1"],
        ["user u2", "imagine", image_model, "done", "1"],
        ["user u1", "imagine", image_model, "failed", "0"],
        ["user u2", "chat", core.settings.chat_model, "answered", "0"],
    ]
    assert sent.caption.startswith("4 rows")


async def test_an_export_over_the_upload_cap_goes_zipped_and_one_too_big_even_then_is_said(
    core: Atelier, monkeypatch: pytest.MonkeyPatch
) -> None:
    for user in ("u1", "u2", "u3") * 3:  # rows enough for deflate to win over the zip's own headers
        await imagine(core, user)
    plain = only_file(await ask(core, "/usage export", admin=True)).data
    monkeypatch.setattr(usage_reports, "EXPORT_MAX_BYTES", len(plain) - 1)

    sent = only_file(await ask(core, "/usage export", admin=True))

    assert sent.mime == "application/zip" and sent.name.endswith(".csv.zip")
    with zipfile.ZipFile(io.BytesIO(sent.data)) as archive:
        (inner,) = archive.namelist()
        assert inner == sent.name.removesuffix(".zip") and archive.read(inner) == plain
    monkeypatch.setattr(usage_reports, "EXPORT_MAX_BYTES", 10)
    too_big = await ask(core, "/usage export", admin=True)
    assert too_big.files == [] and "too big to upload even zipped" in too_big.errors[0]


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_quoted() -> None:
    rows = [
        ActivityRow(0.0, '=HYPERLINK("http://x","y")', "chat", "m", "answered", 0),
        ActivityRow(1.0, "Ann", "chat", "m", "answered", 0),
    ]
    _, first, second = list(csv.reader(io.StringIO(export_csv(rows).decode())))
    assert first[:2] == ["1970-01-01T00:00:00Z", '\'=HYPERLINK("http://x","y")']
    assert second[1] == "Ann"


async def test_the_console_saves_the_chart_and_the_export_in_its_out_folder(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    from tests.test_console import run_cli, saved_paths

    env = {"AGNES_API_KEY": fake_agnes.api_key, "AGNES_BASE_URL": fake_agnes.base_url}
    script = "/imagine a lighthouse\n/usage\n/usage chart\n/usage export\n"
    code, out, err = await run_cli(["console", "--out", "shots"], script, env, tmp_path)

    assert code == 0, err
    _, chart, export = saved_paths(out, tmp_path)
    assert "(/usage chart draws the last 30 days)" in out  # the button, as the console types it
    with Image.open(chart) as image:
        assert chart.parent.name == "shots" and image.format == "PNG" and image.size == (1200, 600)
    header, row = export.read_text().splitlines()
    assert header == ",".join(CSV_HEADER) and ",imagine," in row and row.endswith(",done,1")
