"""/imagine and the result buttons through the real discord.py client against FakeDiscord + FakeAgnes."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.messages import Action, action_id
from tests import test_discord_harness as harness
from tests.fake_clock import FakeClock
from tests.fakes.a1111_server import FakeA1111
from tests.fakes.agnes_server import FakeAgnes, Recorded
from tests.fakes.discord_server import CallbackType, FakeDiscord, Permission
from tests.fakes.images import noisy_png
from tests.test_discord_harness import (
    TIMEOUT,
    Bot,
    button_ids,
    decode,
    ephemeral_followup,
    eventually,
    followup_where,
    is_ephemeral,
    running,
)

# Fixtures shared with the harness module.
fake_discord = harness.fake_discord
bot = harness.bot


@pytest.fixture
async def fake_a1111() -> AsyncIterator[FakeA1111]:
    """A provider that reports progress: fifty distinct percentages, read as fast as it can."""
    server = await FakeA1111(progress=[step / 50 for step in range(50)]).start()
    yield server
    await server.stop()


def job_of(payload: dict) -> str:
    return button_ids(payload)[0].rsplit(":", 1)[1]


async def finished(bot: Bot, job: str) -> None:
    """The core commits a job just after delivering it; buttons that read its images wait for that."""

    async def done() -> bool:
        record = await bot.core.store.jobs.get(job)
        return record is not None and record.status == "done"

    await eventually(done)


async def test_imagine_defers_first_then_follows_up_with_png_and_buttons(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    acknowledged_when_called: list[bool] = []

    def on_request(recorded: Recorded) -> None:
        acknowledged_when_called.append(any(c.status < 300 for c in fake_discord.callbacks))

    fake_agnes.on_request = on_request
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a lighthouse at dusk", "size": "768x768"})
    callback = await fake_discord.wait_for_callback(inter, TIMEOUT)
    assert callback.json["type"] == CallbackType.DEFERRED_CHANNEL_MESSAGE
    followup = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)

    assert acknowledged_when_called == [True]  # deferred before the provider was even called
    assert fake_agnes.image_requests()[0].body["size"] == "768x768"
    [upload] = followup.files
    assert upload.filename.endswith(".png") and decode(upload.data).format == "PNG"
    job = job_of(followup.json)
    assert button_ids(followup.json) == [
        action_id(a, job) for a in (Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT)
    ]
    assert followup.json["content"].startswith("a lighthouse at dusk")
    # The follow-up filled the "thinking" message, which is public.
    original = fake_discord.original_response(inter)
    assert original is not None and original["id"] == str(followup.message_id) and not original["flags"] & 64

    async def linked_job() -> str | None:
        return (await bot.core.store.conversations.linked(f"discord:message:{followup.message_id}"))[1]

    assert await eventually(linked_job) == job


async def test_a_refused_acknowledgement_calls_no_provider_and_charges_nothing(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """The defer runs beside the job's first steps; when Discord refuses it (the bot was too slow), the job
    stops before its provider call, the reservation is given back and the client goes on."""
    fake_discord.interaction_ack_deadline = -1.0  # every acknowledgement arrives "too late"
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a lighthouse at dusk"})

    async def given_up() -> bool:
        return any("could not acknowledge" in record.getMessage() for record in caplog.records)

    await eventually(given_up)
    assert [c.status for c in fake_discord.callbacks if c.params["interaction_id"] == str(inter.id)] == [404]
    assert fake_agnes.image_requests() == [] and fake_discord.followups(inter) == []
    usage = await bot.core.store.quotas.usage(
        f"discord:guild:{fake_discord.guild_id}", f"discord:{fake_discord.user['id']}"
    )
    assert usage.user_used == 0 and usage.scope_used == 0

    fake_discord.interaction_ack_deadline = 3.0
    works = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a lighthouse at dawn"})
    assert (await fake_discord.wait_for_followup(works, timeout=TIMEOUT)).files


async def test_reroll_works_after_a_restart(tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes) -> None:
    async with running(tmp_path, fake_agnes, fake_discord):
        inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a red fox", "seed": 7})
        first = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    job = job_of(first.json)

    async with running(tmp_path, fake_agnes, fake_discord):  # new client, new core, same database
        click = await fake_discord.dispatch_component(action_id(Action.REROLL, job), message=first.message_id)
        callback = await fake_discord.wait_for_callback(click, TIMEOUT)
        assert callback.json["type"] == CallbackType.DEFERRED_CHANNEL_MESSAGE
        result = await fake_discord.wait_for_followup(click, timeout=TIMEOUT)

    assert decode(result.files[0].data).format == "PNG"
    assert job_of(result.json) != job
    first_body, second_body = (r.body for r in fake_agnes.image_requests())
    assert second_body["prompt"] == first_body["prompt"] == "a red fox"


async def test_vary_button_and_edit_button_modal(fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot) -> None:
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a blue bird"})
    first = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    job = job_of(first.json)
    await finished(bot, job)

    vary = await fake_discord.dispatch_component(action_id(Action.VARY, job), message=first.message_id)
    varied = await fake_discord.wait_for_followup(vary, timeout=TIMEOUT)
    assert varied.files and fake_agnes.image_requests()[1].body["image"][0].startswith("data:image/png;base64,")

    edit = await fake_discord.dispatch_component(action_id(Action.EDIT, job), message=first.message_id)
    opened = await fake_discord.wait_for_callback(edit, TIMEOUT)
    assert opened.json["type"] == CallbackType.MODAL
    form = opened.json["data"]["custom_id"]
    submit = await fake_discord.dispatch_modal_submit(form, {"instruction": "make it night"})
    edited = await fake_discord.wait_for_followup(submit, timeout=TIMEOUT)
    assert edited.files and fake_agnes.image_requests()[2].body["prompt"] == "make it night"


async def test_status_shows_elapsed_time_with_cancel_then_the_result_replaces_it(
    tmp_path: Path, fake_discord: FakeDiscord, fake_a1111: FakeA1111, fake_agnes: FakeAgnes
) -> None:
    pace = 1.0
    clock = FakeClock(step=pace / 8)  # time moves on by an eighth of the pace whenever pacing reads it
    a1111 = {"a1111_base_url": fake_a1111.base_url, "a1111_progress_seconds": 0.002, "image_model": "a1111:default"}
    async with running(tmp_path, fake_agnes, fake_discord, clock=clock, discord_progress_delay_seconds=0.0, **a1111):
        inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "slow painting"})
        result = await fake_discord.wait_for(
            lambda r: r.method == "PATCH" and inter.token in r.path and bool(r.files), TIMEOUT
        )
    original = fake_discord.original_response(inter)
    assert original is not None and int(original["id"]) == result.message_id
    statuses = [e for e in fake_discord.edits_of(result.message_id) if not e.files]
    assert "s" in statuses[0].json["content"] and "🎨" in statuses[0].json["content"]
    assert button_ids(statuses[0].json) == [action_id(Action.CANCEL, job_of(result.json))]
    # Fifty reports with new text came in, each read the clock; the status showed one per pace.
    assert len(fake_a1111.calls("/sdapi/v1/progress")) >= 50
    shown_at = [clock.at(s.timestamp) for s in statuses]
    gaps = [b - a for a, b in itertools.pairwise(shown_at)]
    assert len(statuses) >= 2 and all(gap >= pace for gap in gaps), gaps
    assert "%" in statuses[-1].json["content"]
    # The result replaced the status: image, caption and the result buttons (A1111 takes masks: Vary (Region),
    # Zoom Out and Pan too).
    assert original["attachments"] and len(button_ids(original)) == 11
    assert not fake_discord.followups(inter)


async def test_cancel_button_stops_the_job_privately(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.latency = 30
    async with running(tmp_path, fake_agnes, fake_discord, discord_progress_delay_seconds=0.0) as started:
        inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "never mind"})
        status = await fake_discord.wait_until(
            lambda: (m := fake_discord.original_response(inter)) and m["components"] and m,
            TIMEOUT,
            what="a status with a Cancel button",
        )
        [cancel_id] = button_ids(status)
        click = await fake_discord.dispatch_component(cancel_id, message=status)
        acknowledged = await fake_discord.wait_for_callback(click, TIMEOUT)
        assert acknowledged.json["type"] == CallbackType.DEFERRED_UPDATE_MESSAGE
        notice = await ephemeral_followup(fake_discord, inter)
        assert "Cancelled" in notice.json["content"]
        # The public status goes, just after the notice.
        await fake_discord.wait_until(lambda: int(status["id"]) in fake_discord.deleted_messages, TIMEOUT)
        scope, user = f"discord:guild:{fake_discord.guild_id}", f"discord:{fake_discord.user['id']}"
        used = await started.core.store.quotas.usage(scope, user)
        assert used.user_used == 0


async def test_result_over_the_upload_cap_is_reencoded_and_delivered(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    fake_agnes.image = noisy_png(12_000_000)
    assert len(fake_agnes.image) > 10 * 1024 * 1024
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "static"})
    followup = await fake_discord.wait_for_followup(inter, timeout=20)
    [upload] = followup.files
    assert len(upload.data) <= 10 * 1024 * 1024 and upload.filename.endswith(".jpg")
    assert decode(upload.data).format == "JPEG"


async def test_a_multi_megabyte_result_arrives_byte_for_byte(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    """Uploads go to the socket in one write (uploads.UploadBytes), not aiohttp's 64 KB pieces: every byte of
    the provider's image still arrives, in order, once, with the multipart framing intact."""
    fake_agnes.image = noisy_png(3_000_000)
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "static"})
    followup = await fake_discord.wait_for_followup(inter, timeout=20)
    [upload] = followup.files
    assert upload.data == fake_agnes.image and upload.content_type == "application/octet-stream"
    assert followup.json["content"].startswith("static")


async def test_quota_refusal_is_plain_and_ephemeral(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    async with running(tmp_path, fake_agnes, fake_discord, quota_images_per_user_per_day=1):
        first = await fake_discord.dispatch_slash_command("imagine", {"prompt": "one"})
        await fake_discord.wait_for_followup(first, timeout=TIMEOUT)
        second = await fake_discord.dispatch_slash_command("imagine", {"prompt": "two"})
        refusal = await ephemeral_followup(fake_discord, second)
    assert "1" in refusal.json["content"] and not refusal.files
    assert fake_discord.message(refusal.message_id)["flags"] & 64
    assert len(fake_agnes.image_requests()) == 1
    # The public "thinking" message of the refused request was removed, not left spinning.
    assert fake_discord.interactions[second.id].original_message_id in fake_discord.deleted_messages


async def test_provider_failure_is_a_clear_ephemeral_message(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    fake_agnes.faults = ["refusal"]
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "something forbidden"})
    error = await ephemeral_followup(fake_discord, inter)
    assert error.json["content"] and not error.files
    assert [f for f in fake_discord.followups(inter) if not is_ephemeral(f)] == []


async def test_settings_needs_manage_server(fake_discord: FakeDiscord, bot: Bot) -> None:
    member = await fake_discord.dispatch_slash_command("settings", {"setting": "rate", "value": "3"})
    refused = await followup_where(fake_discord, member, lambda r: True)
    assert is_ephemeral(refused) and "admins" in refused.json["content"]

    owner = await fake_discord.dispatch_slash_command(
        "settings", {"setting": "rate", "value": "3"}, user=fake_discord.owner
    )
    done = await followup_where(fake_discord, owner, lambda r: True)
    assert "rate is now 3" in done.json["content"]
    assert fake_discord.message(done.message_id)["flags"] & 64

    granted = await fake_discord.dispatch_slash_command("settings", member_permissions=int(Permission.MANAGE_GUILD))
    shown = await followup_where(fake_discord, granted, lambda r: True)
    assert "rate = 3" in shown.json["content"]


async def test_usage_help_models_cancel_answer_privately(fake_discord: FakeDiscord, bot: Bot) -> None:
    expectations = {"usage": "Images today", "help": "/imagine", "models": "agnes:", "cancel": "no running"}
    for name, expected in expectations.items():
        inter = await fake_discord.dispatch_slash_command(name)
        callback = await fake_discord.wait_for_callback(inter, TIMEOUT)
        assert callback.json["data"]["flags"] & 64  # deferred ephemerally
        answer = await followup_where(fake_discord, inter, lambda r: True)
        assert expected in answer.json["content"], name


async def test_edit_button_of_a_job_that_is_gone_answers_instead_of_opening_a_form(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    inter = await fake_discord.dispatch_slash_command("imagine", {"prompt": "a blue bird"})
    first = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    job = job_of(first.json)
    await finished(bot, job)
    await bot.core.store.db.execute("DELETE FROM jobs WHERE id = ?", (job,))  # past retention: the row is gone

    edit = await fake_discord.dispatch_component(action_id(Action.EDIT, job), message=first.message_id)
    answered = await fake_discord.wait_for_callback(edit, TIMEOUT)
    assert answered.json["type"] != CallbackType.MODAL
    assert "no longer available" in answered.json["data"]["content"]
    assert len(fake_agnes.image_requests()) == 1
