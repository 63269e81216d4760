"""`--enhance` and `/settings enhance on`: the chat model details a short prompt before the image is made."""

from __future__ import annotations

from bot.core import Atelier
from bot.messages import Action
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say

DETAILED = (
    "A red fox curled asleep in fresh snow at the edge of a pine forest, soft watercolour style, "
    "pale dawn light, low camera angle, subject centred, fine fur detail"
)


async def used(core: Atelier) -> int:
    return (await core.store.quotas.usage("test:guild:g1", "test:u1")).user_used


async def test_enhance_sends_the_detailed_prompt_says_so_and_reroll_reuses_it(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.chat_reply = f"Here is the prompt: “{DETAILED}”"
    reply = RecordingReply()
    await say(core, "/imagine a fox --enhance", make_request(), reply)
    assert reply.errors == []
    [asked] = fake_agnes.chat_requests()
    system, user = asked.body["messages"]
    assert "lighting" in system["content"] and user["content"] == "a fox"
    assert "tools" not in asked.body
    [generation] = fake_agnes.image_requests()
    assert generation.body["prompt"] == DETAILED
    [delivery] = reply.deliveries
    assert delivery.caption.startswith(DETAILED)
    assert 'prompt detailed from "a fox" by the chat model (--enhance)' in delivery.caption
    assert await used(core) == 1

    again = RecordingReply()
    await core.action(Action.REROLL, delivery.job_id, make_request(), again)
    assert len(fake_agnes.chat_requests()) == 1  # Reroll reuses the detailed prompt: no second rewrite
    assert fake_agnes.image_requests()[1].body["prompt"] == DETAILED


async def test_when_the_chat_model_fails_the_prompt_is_used_as_written(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_faults = [500, 500, 500]
    reply = RecordingReply()
    await say(core, "/imagine a fox --enhance", make_request(), reply)
    assert reply.errors == []
    assert fake_agnes.image_requests()[0].body["prompt"] == "a fox"
    assert "your prompt was used as written" in reply.deliveries[0].caption
    assert await used(core) == 1


async def test_a_server_can_turn_enhance_on_for_every_imagine(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_reply = DETAILED
    admin = RecordingReply()
    await say(core, "/settings enhance on", make_request(admin=True), admin)
    assert admin.texts == ["enhance is now on (the chat model details every /imagine prompt first, as --enhance does)."]
    await say(core, "/imagine a fox", make_request(), RecordingReply())
    assert fake_agnes.image_requests()[0].body["prompt"] == DETAILED
    await say(core, "/imagine a fox", make_request(guild="g2"), RecordingReply())
    assert fake_agnes.image_requests()[1].body["prompt"] == "a fox"  # another server: as written


async def test_enhance_takes_no_value(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/imagine a fox --enhance=yes", make_request(), reply)
    assert reply.errors == ["--enhance takes no value: add it to the prompt, e.g. /imagine a fox --enhance"]
    assert fake_agnes.requests == []
