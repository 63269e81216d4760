"""The chat model draws and edits: tool calls run through the job path (quota, delivery with buttons, refund),
and the model gets each outcome back before it answers in words."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from bot.core import Atelier
from bot.messages import Action
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say

CONVERSATION = "test:guild:g1:main"


def content(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


def tool_call(name: str, arguments: str, call_id: str = "call_1", pieces: int = 3) -> list[dict]:
    """One call as servers stream it: id and name first, the arguments in `pieces` fragments."""
    step = max(1, len(arguments) // pieces)
    fragments = [arguments[i : i + step] for i in range(0, len(arguments), step)] or [""]
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [first]}}]}]
    for fragment in fragments:
        call = {"index": 0, "function": {"arguments": fragment}}
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return [*chunks, "data: [DONE]"]


def words(text: str) -> list:
    return [content(text), {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}, "data: [DONE]"]


async def used(core: Atelier, user: str = "u1") -> int:
    return (await core.store.quotas.usage("test:guild:g1", f"test:{user}")).user_used


def tool_messages(fake_agnes: FakeAgnes, request_index: int) -> list[dict]:
    return [m for m in fake_agnes.chat_requests()[request_index].body["messages"] if m["role"] == "tool"]


async def test_draw_then_make_it_night_gives_two_images_the_second_an_edit_of_the_first(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.chat_scripts = [
        tool_call("generate_image", json.dumps({"prompt": "a lighthouse on a cliff", "aspect_ratio": "16:9"})),
        words("Here is your lighthouse."),
    ]
    first = RecordingReply()
    await say(core, "draw me a lighthouse", make_request(), first)
    assert first.errors == []
    [drawn] = first.deliveries
    assert Action.REROLL in drawn.actions and Action.EDIT in drawn.actions
    assert "".join(first.streamed[0]) == "Here is your lighthouse."
    assert await used(core) == 1
    [generation] = fake_agnes.image_requests()
    assert generation.body["prompt"] == "a lighthouse on a cliff" and "image" not in generation.body
    width, height = (int(n) for n in generation.body["size"].split("x"))
    assert width > height  # 16:9 mapped to an allowed landscape size
    [result] = tool_messages(fake_agnes, 1)
    assert f"job:{drawn.job_id}" in result["content"] and result["tool_call_id"] == "call_1"
    assert fake_agnes.chat_requests()[1].body["messages"][-2]["tool_calls"][0]["function"]["name"] == "generate_image"

    # The next turn: the model finds the ref in the history and edits that image.
    fake_agnes.chat_scripts = [
        tool_call("edit_image", json.dumps({"instruction": "make it night", "image_ref": f"job:{drawn.job_id}"})),
        words("Now it is night."),
    ]
    second = RecordingReply()
    await say(core, "now make it night", make_request(), second)
    assert second.errors == []
    [edited] = second.deliveries
    assert edited.job_id != drawn.job_id
    history = fake_agnes.chat_requests()[2].body["messages"]
    assert any(f"job:{drawn.job_id}" in str(m["content"]) for m in history if m["role"] == "assistant")
    edit_request = fake_agnes.image_requests()[1]
    assert edit_request.body["prompt"].startswith("make it night")
    sent = base64.b64decode(edit_request.body["image"][0].partition(",")[2])
    assert sent == drawn.images[0].data  # the first result is the edit's input
    assert await used(core) == 2


async def test_malformed_arguments_go_back_to_the_model_as_a_tool_error(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_scripts = [
        tool_call("generate_image", '{"prompt": "a cat", '),  # cut short: not JSON
        words("Sorry, I could not draw that."),
    ]
    reply = RecordingReply()
    await say(core, "draw a cat", make_request(), reply)
    assert reply.errors == [] and reply.deliveries == []
    assert fake_agnes.image_requests() == []
    [result] = tool_messages(fake_agnes, 1)
    assert result["content"].startswith("error: the arguments are not valid JSON")
    assert "".join(reply.streamed[0]) == "Sorry, I could not draw that."
    assert await used(core) == 0


async def test_quota_exhausted_inside_a_tool_call_is_told_to_user_and_model_and_costs_nothing(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, quota_images_per_user_per_day=0))
    try:
        fake_agnes.chat_scripts = [
            tool_call("generate_image", json.dumps({"prompt": "a boat"})),
            words("You have no images left today."),
        ]
        reply = RecordingReply()
        await say(core, "draw a boat", make_request(), reply)
        assert reply.deliveries == [] and fake_agnes.image_requests() == []
        [told] = reply.errors
        [result] = tool_messages(fake_agnes, 1)
        assert result["content"].startswith("not made.") and told in result["content"]
        assert "".join(reply.streamed[0]) == "You have no images left today."
        assert await used(core) == 0
    finally:
        await core.close()


async def test_tool_calls_stop_at_the_cap_and_the_model_must_answer_in_words(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    core = await Atelier.start(
        make_settings(tmp_path, fake_agnes, chat_max_tool_calls=1, rate_limit_per_user_per_minute=60)
    )
    try:
        fake_agnes.chat_scripts = [
            tool_call("generate_image", json.dumps({"prompt": "one"})),
            words("Done."),
        ]
        reply = RecordingReply()
        await say(core, "draw many", make_request(), reply)
        assert len(reply.deliveries) == 1
        first, second = (r.body for r in fake_agnes.chat_requests())
        assert first["tools"] and "tools" not in second  # past the cap, no tools are offered
    finally:
        await core.close()


async def test_editing_the_attached_image(core: Atelier, fake_agnes: FakeAgnes) -> None:
    photo = png_bytes()
    fake_agnes.chat_scripts = [
        tool_call("edit_image", json.dumps({"instruction": "add a hat", "image_ref": "attached"})),
        words("Hat added."),
    ]
    reply = RecordingReply()
    await say(core, "put a hat on him", make_request(images=[photo]), reply)
    assert len(reply.deliveries) == 1 and reply.errors == []
    sent = base64.b64decode(fake_agnes.image_requests()[0].body["image"][0].partition(",")[2])
    assert sent == photo


async def test_a_ref_to_another_chats_image_is_refused(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_scripts = [
        tool_call("generate_image", json.dumps({"prompt": "a secret"})),
        words("Made."),
    ]
    other = RecordingReply()
    await say(core, "draw", make_request("u2", guild="g2", conversation="elsewhere"), other)
    [theirs] = other.deliveries
    fake_agnes.chat_scripts = [
        tool_call("edit_image", json.dumps({"instruction": "reveal", "image_ref": f"job:{theirs.job_id}"})),
        words("I can't."),
    ]
    reply = RecordingReply()
    await say(core, "edit that", make_request(), reply)
    assert reply.deliveries == [] and len(fake_agnes.image_requests()) == 1
    assert tool_messages(fake_agnes, 3)[0]["content"].startswith("not made.")


async def test_no_tools_are_offered_when_the_operator_sets_none(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, chat_max_tool_calls=0))
    try:
        await say(core, "hello", make_request(), RecordingReply())
        assert "tools" not in fake_agnes.chat_requests()[0].body
    finally:
        await core.close()


async def test_a_servers_admins_can_turn_chat_tools_off(core: Atelier, fake_agnes: FakeAgnes) -> None:
    member = RecordingReply()
    await say(core, "/settings chat_tools off", make_request(), member)
    assert member.errors and fake_agnes.requests == []  # members may not
    admin = RecordingReply()
    await say(core, "/settings chat_tools maybe", make_request(admin=True), admin)
    assert admin.errors == [
        "chat_tools takes on (the chat model may draw and edit images, counted like /imagine) "
        "or off (the chat model only answers in words)."
    ]
    await say(core, "/settings chat_tools off", make_request(admin=True), admin)
    assert admin.texts == ["chat_tools is now off (the chat model only answers in words)."]
    shown = RecordingReply()
    await say(core, "/settings", make_request(admin=True), shown)
    assert "chat_tools = off" in shown.texts[0]
    await say(core, "draw me a cat", make_request(), RecordingReply())
    assert "tools" not in fake_agnes.chat_requests()[-1].body
    other_server = RecordingReply()
    await say(core, "draw me a cat", make_request(guild="g2"), other_server)
    assert fake_agnes.chat_requests()[-1].body["tools"]  # only that server turned them off
    await say(core, "/settings reset chat_tools", make_request(admin=True), RecordingReply())
    await say(core, "draw me a cat", make_request(), RecordingReply())
    assert fake_agnes.chat_requests()[-1].body["tools"]


async def test_describe_image_lets_the_model_look_at_a_result_it_made(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_scripts = [
        tool_call("generate_image", json.dumps({"prompt": "a tiny red square"})),
        words("Made it."),
    ]
    first = RecordingReply()
    await say(core, "draw a red square", make_request(), first)
    [made] = first.deliveries
    fake_agnes.chat_scripts = [
        tool_call("describe_image", json.dumps({"image_ref": f"job:{made.job_id}"})),
        words("A small red square on a plain background."),  # the tool's own vision call
        words("It is a tiny red square."),
    ]
    second = RecordingReply()
    await say(core, "what did you draw?", make_request(), second)
    look = fake_agnes.chat_requests()[3].body["messages"]
    assert look[-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "tools" not in fake_agnes.chat_requests()[3].body  # the look itself offers no tools
    [result] = tool_messages(fake_agnes, 4)
    assert result["content"] == "A small red square on a plain background."
    assert "".join(second.streamed[0]) == "It is a tiny red square." and second.deliveries == []
