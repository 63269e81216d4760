"""The job path through the real httpx client against the fake Agnes server."""

from __future__ import annotations

import base64
import io

from PIL import Image

from bot.core import Atelier
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say


async def used(core: Atelier, user: str = "u1", guild: str = "g1") -> tuple[int, int]:
    usage = await core.store.quotas.usage(f"test:guild:{guild}", f"test:{user}")
    return usage.user_used, usage.scope_used


async def test_imagine_delivers_a_decodable_png_and_charges_one_image(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/imagine a lighthouse at dusk --size 1024x768 --seed 7", make_request(), reply)

    assert reply.errors == []
    [delivery] = reply.deliveries
    image = Image.open(io.BytesIO(delivery.images[0].data))
    assert image.format == "PNG"
    assert delivery.caption.startswith("a lighthouse at dusk")
    [sent] = fake_agnes.image_requests()
    assert sent.body["size"] == "1024x768"
    assert sent.body["return_base64"] is True
    assert "response_format" not in sent.body
    assert sent.headers["Authorization"] == "Bearer test-agnes-key"
    assert await used(core) == (1, 1)
    record = await core.store.jobs.get(delivery.job_id)
    assert record is not None and record.status == "done" and record.prompt == "a lighthouse at dusk"


async def test_url_answer_is_downloaded_even_when_base64_was_asked(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.output_mode = "url"
    reply = RecordingReply()
    await say(core, "/imagine a red square", make_request(), reply)
    assert reply.errors == []
    assert reply.deliveries[0].images[0].data == fake_agnes.image


async def test_edit_sends_the_image_as_a_data_uri_and_asks_base64_in_extra_body(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    source = png_bytes(32, 32, (10, 200, 10))
    reply = RecordingReply()
    await say(core, "/edit make it snowy", make_request(images=[source]), reply)

    assert reply.errors == []
    [sent] = fake_agnes.image_requests()
    [uri] = sent.body["image"]
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == source
    assert sent.body["extra_body"] == {"response_format": "b64_json"}
    assert "return_base64" not in sent.body
    assert len(reply.deliveries) == 1


async def test_edit_without_an_image_explains_how(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/edit make it snowy", make_request(), reply)
    assert "Reply to an image" in reply.errors[0]
    assert fake_agnes.image_requests() == []


async def test_reroll_and_vary_buttons_find_their_job_after_a_restart(tmp_path, fake_agnes: FakeAgnes) -> None:
    from bot.messages import Action
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, fake_agnes)
    first = await Atelier.start(settings)
    reply = RecordingReply()
    await say(first, "/imagine a castle --seed 3", make_request(), reply)
    job_id = reply.deliveries[0].job_id
    await first.close()

    second = await Atelier.start(settings)
    try:
        reroll, vary = RecordingReply(), RecordingReply()
        await second.action(Action.REROLL, job_id, make_request("u2"), reroll)
        await second.action(Action.VARY, job_id, make_request("u2"), vary)
        assert reroll.errors == [] and vary.errors == []
        assert len(reroll.deliveries) == 1 and len(vary.deliveries) == 1
        reroll_body, vary_body = (r.body for r in fake_agnes.image_requests()[1:])
        assert reroll_body["prompt"] == "a castle" and "image" not in reroll_body
        assert vary_body["image"][0].startswith("data:image/png;base64,")
        edit = RecordingReply()
        await second.action(Action.EDIT, job_id, make_request("u2"), edit, instruction="add a dragon")
        assert fake_agnes.image_requests()[-1].body["prompt"] == "add a dragon"
        usage = await second.store.quotas.usage("test:guild:g1", "test:u2")
        assert usage.user_used == 3
    finally:
        await second.close()


async def test_unknown_job_button_says_it_expired(core: Atelier) -> None:
    from bot.messages import Action

    reply = RecordingReply()
    await core.action(Action.REROLL, "nosuchjob", make_request(), reply)
    assert "no longer available" in reply.errors[0]


async def test_vary_pressed_while_the_result_is_still_being_delivered(core: Atelier, fake_agnes: FakeAgnes) -> None:
    """The button is on screen before the job is committed; pressing it then must still work."""
    import asyncio

    from bot.messages import Action, Delivery

    vary = RecordingReply()
    pressed = asyncio.Event()
    committing = asyncio.Event()
    commit, result_images = core.store.quotas.commit, core.runner.result_images

    async def held_commit(job_id: str, result: dict, posted_ref: str | None = None) -> None:
        await committing.wait()  # the job stays "running" until the press is under way
        await commit(job_id, result, posted_ref)

    async def noted_result_images(job_id: str) -> list[bytes] | None:
        pressed.set()
        return await result_images(job_id)

    class PressesVaryOnArrival(RecordingReply):
        async def send_images(self, delivery: Delivery) -> None:
            await super().send_images(delivery)
            self.pressed = asyncio.ensure_future(core.action(Action.VARY, delivery.job_id, make_request("u2"), vary))

    core.store.quotas.commit = held_commit  # type: ignore[method-assign]
    core.runner.result_images = noted_result_images  # type: ignore[method-assign]
    first = PressesVaryOnArrival()
    imagining = asyncio.ensure_future(say(core, "/imagine a castle", make_request(), first))
    async with asyncio.timeout(5):
        await pressed.wait()
        committing.set()
        await imagining
        await first.pressed
    assert vary.errors == [] and len(vary.deliveries) == 1


async def test_result_images_past_retention_are_deleted_and_buttons_say_so(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    from bot.housekeeping import prune_results
    from bot.messages import Action
    from bot.results import ResultFiles

    reply = RecordingReply()
    await say(core, "/edit make it snowy", make_request(images=[png_bytes()]), reply)
    job_id = reply.deliveries[0].job_id
    results = core.settings.database_path.parent / "results"
    assert sorted(p.name for p in results.iterdir()) == [f"{job_id}-in0", f"{job_id}-out0"]

    await core.store.db.execute("UPDATE jobs SET finished_at = finished_at - 15 * 86400 WHERE id = ?", (job_id,))
    assert await prune_results(core.store, ResultFiles(results), days=14) == 1
    assert list(results.iterdir()) == []  # the output and the input image are both gone
    vary = RecordingReply()
    await core.action(Action.VARY, job_id, make_request(), vary)
    assert "no longer available" in vary.errors[0]
