"""Chat and /ask: streamed answers, per-conversation history kept across restarts."""

from __future__ import annotations

from bot.core import Atelier
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say


async def test_chat_streams_in_several_chunks(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/chat describe a lighthouse", make_request(), reply)
    [chunks] = reply.streamed
    assert len(chunks) > 3
    assert "".join(chunks) == fake_agnes.chat_reply
    body = fake_agnes.chat_requests()[0].body
    assert body["stream"] is True and body["model"] == "agnes-2.0-flash"


async def test_history_is_per_conversation_and_survives_restart(tmp_path, fake_agnes: FakeAgnes) -> None:
    settings = make_settings(tmp_path, fake_agnes)
    first = await Atelier.start(settings)
    await say(first, "my name is Ada", make_request(conversation="thread-1"), RecordingReply())
    await first.close()

    second = await Atelier.start(settings)
    try:
        await say(second, "what is my name?", make_request(conversation="thread-1"), RecordingReply())
        await say(second, "what is my name?", make_request(conversation="thread-2"), RecordingReply())
        same, other = (r.body["messages"] for r in fake_agnes.chat_requests()[1:])
        assert [m["role"] for m in same] == ["system", "user", "assistant", "user"]
        assert same[1]["content"] == "my name is Ada"
        assert [m["role"] for m in other] == ["system", "user"]
    finally:
        await second.close()


async def test_history_is_capped(tmp_path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(
        make_settings(tmp_path, fake_agnes, chat_history_turns=2, rate_limit_per_user_per_minute=60)
    )
    try:
        for turn in range(5):
            await say(core, f"message {turn}", make_request(), RecordingReply())
        last = fake_agnes.chat_requests()[-1].body["messages"]
        assert len(last) == 1 + 4 + 1  # system, two stored turns, the new question
        assert last[1]["content"] == "message 2"
    finally:
        await core.close()


async def test_ask_sends_the_image_as_a_vision_block(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/ask what colour is this?", make_request(images=[png_bytes()]), reply)
    assert reply.errors == []
    user = fake_agnes.chat_requests()[0].body["messages"][-1]
    assert user["content"][0] == {"type": "text", "text": "what colour is this?"}
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    follow_up = RecordingReply()
    await say(core, "and the shape?", make_request(), follow_up)
    history = fake_agnes.chat_requests()[1].body["messages"]
    assert history[1]["content"][1]["type"] == "image_url"  # the image stays in the conversation


async def test_ask_without_image_explains(core: Atelier, fake_agnes: FakeAgnes) -> None:
    reply = RecordingReply()
    await say(core, "/ask what is this?", make_request(), reply)
    assert "Attach an image" in reply.errors[0]
    assert fake_agnes.requests == []


async def test_chat_failure_is_plain_and_not_remembered(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_faults = [500]
    reply = RecordingReply()
    await say(core, "hello", make_request(), reply)
    assert "chat service failed" in reply.errors[0]
    assert await core.store.conversations.history("test:guild:g1:main") == []
