"""The core's one door: the text parser, the dispatch table, and cancellation that is never swallowed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.command import Ask, ChangeSettings, Chat, Edit, GenerationParams, Help, Imagine, Invalid, Reset
from bot.core import Atelier
from bot.messages import Action, Progress
from bot.parsing import parse_line
from bot.providers.catalogue import Catalogue
from bot.store import Store
from tests.conftest import make_settings
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say

SIZES = [(1024, 1024), (1024, 768)]


class WatchingReply(RecordingReply):
    """Records, and says when the job's first progress update arrived (the job is running)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()

    async def progress(self, update: Progress) -> None:
        await super().progress(update)
        self.started.set()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/imagine a cat --size 1024x768", Imagine(GenerationParams("a cat", size=(1024, 768)))),
        ("/IMAGINE@AtelierBot a cat", Imagine(GenerationParams("a cat"))),
        ("/edit make it snowy --seed 3", Edit(GenerationParams("make it snowy", seed=3))),
        ("/ask what is this?", Ask("what is this?")),
        ("/start", Help()),
        ("/reset", Reset()),
        ("/settings", ChangeSettings()),
        ("/settings Rate 3", ChangeSettings("rate", "3")),
        ("/settings reset rate", ChangeSettings("reset", "rate")),
        ("hello there", Chat("hello there")),
        ("/img2img a cat", Invalid("Unknown command /img2img. Try /help.")),
        # Phone keyboards turn `--` into an em or en dash: still flags.
        ("/imagine a cat \u2014ar 4:3 \u2013seed 3", Imagine(GenerationParams("a cat", size=(1024, 768), seed=3))),
        ("/imagine a cat \u2014size=1024x768", Imagine(GenerationParams("a cat", size=(1024, 768)))),
        (
            "/imagine a sign \u2014no entry in red \u2013seed 4",
            Imagine(GenerationParams("a sign", seed=4, negative_prompt="entry in red")),
        ),
        # A dash that names no flag is prose, as it always was.
        ("/imagine a cat \u2014 asleep \u2014softly", Imagine(GenerationParams("a cat \u2014 asleep \u2014softly"))),
        ("/imagine x --seed \u00b2", Invalid("--seed takes a whole number from 0 to 4294967295, not '\u00b2'.")),
    ],
)
def test_the_text_form_parses_to_one_typed_command(line: str, expected: object) -> None:
    assert parse_line(line, SIZES) == expected


def test_a_bad_flag_or_size_is_an_invalid_command_naming_what_is_valid() -> None:
    flag = parse_line("/imagine a cat --wings 2", SIZES)
    assert isinstance(flag, Invalid) and "Unknown option --wings" in flag.reason and "--size" in flag.reason
    size = parse_line("/imagine a cat --size 512x512", SIZES)
    assert isinstance(size, Invalid) and size.reason.endswith("Allowed sizes: 1024x1024, 1024x768.")
    settings = parse_line("/settings rate 3 4", SIZES)
    assert isinstance(settings, Invalid) and settings.reason.startswith("Usage: `/settings`")


async def test_an_unknown_command_is_answered_not_chatted_about(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/img2img a cat", make_request(guild=None), reply)
    assert reply.errors == ["Unknown command /img2img. Try /help."]
    assert fake_agnes.requests == []  # neither a chat call nor an image call


async def test_a_button_whose_caller_is_cancelled_starts_nothing(core: Atelier, fake_agnes: FakeAgnes) -> None:
    """A Reroll pressed while its job still runs waits for that job; cancelling the press must stop it
    there (before, the wait swallowed the cancellation and the press went on to start a new job)."""
    fake_agnes.faults = ["timeout"]  # the first job hangs upstream
    first = WatchingReply()
    running = asyncio.ensure_future(say(core, "/imagine a castle", make_request(), first))
    async with asyncio.timeout(5):
        await first.started.wait()
    job_id = first.progress_updates[0].job_id
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):  # the caller gives up while the press waits on the job
            await core.action(Action.REROLL, job_id, make_request(), RecordingReply())
    assert core.runner.cancel_for("test:guild:g1", "test:u1") == 1
    await asyncio.wait([running])
    rows = await core.store.db.fetchall("SELECT kind, status FROM jobs")
    assert [(row["kind"], row["status"]) for row in rows] == [("imagine", "cancelled")]
    assert len(fake_agnes.image_requests()) == 1


def _tasks_running(name: str) -> list[asyncio.Task]:
    return [task for task in asyncio.all_tasks() if getattr(task.get_coro(), "__name__", "") == name]


async def test_shutdown_clears_progress_refunds_and_leaves_no_task_behind(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.faults = ["timeout"]
    core = await Atelier.start(make_settings(tmp_path, fake_agnes))
    reply = WatchingReply()
    running = asyncio.ensure_future(say(core, "/imagine a lighthouse", make_request(), reply))
    async with asyncio.timeout(5):
        await reply.started.wait()
    assert _tasks_running("_tick") and _tasks_running("_prune_periodically")
    await core.close(drain_seconds=0)
    await asyncio.wait([running])
    assert reply.cleared >= 1  # no "Working… / Cancel" left on screen
    assert _tasks_running("_tick") == [] and _tasks_running("_prune_periodically") == []
    reopened = await Atelier.start(make_settings(tmp_path, fake_agnes))
    try:
        usage = await reopened.store.quotas.usage("test:guild:g1", "test:u1")
        assert (usage.user_used, usage.scope_used) == (0, 0)
    finally:
        await reopened.close()


async def test_start_closes_what_it_opened_when_a_later_step_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Store] = []
    real_open = Store.open

    async def recording_open(*args: object, **kwargs: object) -> Store:
        store = await real_open(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(store)
        return store

    class RecordingCatalogue(Catalogue):
        closed = False

        async def aclose(self) -> None:
            self.closed = True

    async def disk_full(*_args: object) -> int:
        raise OSError("No space left on device")

    monkeypatch.setattr(Store, "open", recording_open)
    monkeypatch.setattr("bot.core.prune", disk_full)
    catalogue = RecordingCatalogue()
    with pytest.raises(OSError, match="No space left"):
        await Atelier.start(make_settings(tmp_path, None), catalogue)
    assert catalogue.closed
    with pytest.raises(ValueError):  # aiosqlite: the connection is closed
        await opened[0].db.fetchall("SELECT 1")


async def test_no_with_phone_dashes_is_consistent_with_and_without_a_negative_prompt(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    """`—no entry in red`: the words never reach the prompt. A model with a negative prompt gets them there;
    one without drops them, and the caption says exactly that (before: the dash form stayed in the prompt,
    and the plain form said "--no was ignored" with no word of where the words went)."""
    a1111 = await FakeA1111(progress=[]).start()
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, a1111_base_url=a1111.base_url))
    try:
        plain = RecordingReply()
        await say(core, "/imagine a sign \u2014no entry in red \u2014ar 4:3", make_request(), plain)
        [delivery] = plain.deliveries
        sent = fake_agnes.image_requests()[0].body
        assert sent["prompt"] == "a sign" and "entry" not in str(sent)
        assert delivery.caption.splitlines()[-1] == (
            'Note: --no was ignored: agnes-image-2.1-flash has no negative prompt, so "entry in red" was left out.'
        )
        negative = RecordingReply()
        await say(core, "/imagine a sign \u2013no entry in red --model a1111:default", make_request(), negative)
        [delivery] = negative.deliveries
        body = a1111.requests[-1].body
        assert body["prompt"] == "a sign" and body["negative_prompt"] == "entry in red"
        assert "Note" not in delivery.caption
    finally:
        await core.close()
        await a1111.stop()


def test_a_seed_of_thousands_of_digits_is_refused_not_a_crash() -> None:
    """`int()` refuses more than 4,300 digits with a ValueError the parser did not expect."""
    refused = parse_line("/imagine x --seed " + "9" * 5000, SIZES)
    assert refused == Invalid("--seed takes a whole number from 0 to 4294967295, not '99999999999999999999999…'.")
