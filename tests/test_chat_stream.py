"""What real OpenAI-compatible servers stream, through the core: role-only chunks, empty choices, usage
chunks, reasoning deltas, tool-call deltas in pieces, a length cut, an error after the HTTP 200."""

from __future__ import annotations

import httpx

from bot.core import Atelier
from bot.providers.base import ChatMessage, ChatOptions
from bot.providers.chat_stream import Finished, ToolCall
from bot.providers.openai_chat import OpenAIChat
from tests.fakes.agnes_server import FakeAgnes
from tests.recording import RecordingReply, make_request, say

CONVERSATION = "test:guild:g1:main"


def content(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


def finish(reason: str) -> dict:
    return {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}


def tool_delta(index: int, **fields: object) -> dict:
    return {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index, **fields}]}}]}


async def test_role_chunks_keep_alives_empty_choices_and_usage_leave_only_the_answer(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.chat_scripts = [
        [
            {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
            ": keep-alive",
            {"choices": []},
            content("Hello"),
            {"choices": [{"index": 0, "delta": {"content": None}}]},
            content(" there."),
            finish("stop"),
            {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}},
            "data: [DONE]",
        ]
    ]
    reply = RecordingReply()
    await say(core, "/chat hi", make_request(), reply)
    assert reply.errors == [] and "".join(reply.streamed[0]) == "Hello there."
    history = await core.store.conversations.history(CONVERSATION)
    assert [m.text for m in history] == ["hi", "Hello there."]


async def test_reasoning_never_reaches_the_answer_or_the_history(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_scripts = [
        [
            {"choices": [{"index": 0, "delta": {"reasoning_content": "The user greets me; "}}]},
            {"choices": [{"index": 0, "delta": {"reasoning": "answer briefly."}}]},
            content("Hi!"),
            finish("stop"),
            "data: [DONE]",
        ]
    ]
    reply = RecordingReply()
    await say(core, "/chat hello", make_request(), reply)
    assert "".join(reply.streamed[0]) == "Hi!"
    history = await core.store.conversations.history(CONVERSATION)
    assert history[-1].text == "Hi!"


async def test_an_answer_cut_at_the_length_limit_is_kept_and_says_so(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_scripts = [[content("Once upon a time there was"), finish("length"), "data: [DONE]"]]
    reply = RecordingReply()
    await say(core, "/chat tell me a long story", make_request(), reply)
    answer = "".join(reply.streamed[0])
    assert answer.startswith("Once upon a time there was") and "length limit" in answer
    assert reply.errors == []
    assert (await core.store.conversations.history(CONVERSATION))[-1].text == answer


async def test_an_error_after_some_of_the_answer_keeps_it_marked_as_interrupted(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.chat_scripts = [
        [content("The first half "), content("of the answer"), {"error": {"message": "upstream overloaded"}}]
    ]
    reply = RecordingReply()
    await say(core, "/chat explain", make_request(), reply)
    answer = "".join(reply.streamed[0])
    assert answer.startswith("The first half of the answer") and "interrupted" in answer
    assert "upstream overloaded" not in answer and reply.errors == []


async def test_a_stream_that_just_stops_is_interrupted_not_complete(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_scripts = [[content("Half an answer")]]  # no finish_reason, no [DONE]
    reply = RecordingReply()
    await say(core, "/chat explain", make_request(), reply)
    assert "interrupted" in "".join(reply.streamed[0])


async def test_an_error_before_any_text_is_a_plain_failure_and_not_remembered(
    core: Atelier, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.chat_scripts = [[{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}, {"error": "boom"}]]
    reply = RecordingReply()
    await say(core, "/chat explain", make_request(), reply)
    [message] = reply.errors
    assert "broke off" in message and "boom" not in message
    assert await core.store.conversations.history(CONVERSATION) == []


async def test_tool_call_arguments_in_pieces_and_two_calls_in_one_turn_are_assembled(
    fake_agnes: FakeAgnes,
) -> None:
    fake_agnes.chat_scripts = [
        [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]},
            tool_delta(0, id="call_a", type="function", function={"name": "generate_image", "arguments": ""}),
            tool_delta(0, function={"arguments": '{"prompt": "a light'}),
            tool_delta(1, id="call_b", type="function", function={"name": "describe_image", "arguments": '{"ima'}),
            tool_delta(0, function={"arguments": 'house"}'}),
            tool_delta(1, function={"arguments": 'ge_ref": "img1"}'}),
            finish("tool_calls"),
            "data: [DONE]",
        ]
    ]
    tools = [{"type": "function", "function": {"name": "generate_image", "parameters": {"type": "object"}}}]
    async with httpx.AsyncClient(timeout=5) as client:
        chat = OpenAIChat("agnes", client, fake_agnes.base_url, fake_agnes.api_key, idle_timeout=5)
        events = [
            event
            async for event in chat.stream_events(
                [ChatMessage("user", "draw")], "agnes-2.0-flash", ChatOptions(tools=tools, thinking=True)
            )
        ]
    assert events == [
        ToolCall("call_a", "generate_image", '{"prompt": "a lighthouse"}'),
        ToolCall("call_b", "describe_image", '{"image_ref": "img1"}'),
        Finished("tool_calls"),
    ]
    body = fake_agnes.chat_requests()[0].body
    assert body["tools"] == tools and body["tool_choice"] == "auto"
    assert body["chat_template_kwargs"] == {"enable_thinking": True}


async def test_a_server_that_ignores_stream_gives_the_same_answer(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_ignores_stream, fake_agnes.chat_reply = True, "Whole at once."
    reply = RecordingReply()
    await say(core, "/chat hi", make_request(), reply)
    assert "".join(reply.streamed[0]) == "Whole at once." and reply.errors == []


async def test_plain_requests_offer_the_tools_but_no_thinking(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await say(core, "/chat hi", make_request(), RecordingReply())
    body = fake_agnes.chat_requests()[0].body
    assert [tool["function"]["name"] for tool in body["tools"]] == ["generate_image", "edit_image", "describe_image"]
    assert "chat_template_kwargs" not in body


async def test_a_server_can_turn_thinking_on_for_every_chat(core: Atelier, fake_agnes: FakeAgnes) -> None:
    admin = RecordingReply()
    await say(core, "/settings thinking on", make_request(admin=True), admin)
    assert admin.texts == ["thinking is now on (the chat model thinks before every answer, as /think does; slower)."]
    await say(core, "hello", make_request(), RecordingReply())
    assert fake_agnes.chat_requests()[-1].body["chat_template_kwargs"] == {"enable_thinking": True}
    await say(core, "hello", make_request(guild="g2"), RecordingReply())
    assert "chat_template_kwargs" not in fake_agnes.chat_requests()[-1].body
    await say(core, "/think hello", make_request(guild="g2"), RecordingReply())
    assert fake_agnes.chat_requests()[-1].body["chat_template_kwargs"] == {"enable_thinking": True}
