"""The Telegram adapter end to end: real python-telegram-bot against FakeTelegram and FakeAgnes."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pytest

from bot.messages import Action, action_id
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import jpeg_bytes, noisy_png, png_bytes
from tests.fakes.telegram_server import FakeTelegram
from tests.test_telegram_harness import (  # noqa: F401 - pytest fixtures
    BOT_NAME,
    GROUP,
    USER,
    RunningBot,
    buttons,
    fake_telegram_fixture,
    replied_to,
    running_bot,
    says,
    text_of,
    tg_fixture,
    uploaded_image,
)

pytestmark = pytest.mark.timeout(30)


async def test_imagine_sends_a_photo_with_buttons_and_clears_the_status(tg: RunningBot) -> None:
    fake = tg.fake
    sent = fake.push_message(USER, "/imagine a lighthouse at dusk --size 1024x768")
    photo = await fake.wait_for("sendPhoto")

    assert photo.ok and replied_to(photo) == sent["message"]["message_id"]
    image = uploaded_image(photo)
    assert image.format == "PNG" and image.size == (64, 48)  # what the fake provider made
    assert text_of(photo).startswith("a lighthouse at dusk\n(64x48 (asked 1024x768)")  # the real size
    job_id = buttons(photo)[0].split(":")[2]
    assert buttons(photo) == [action_id(a, job_id) for a in (Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT)]
    assert (await fake.wait_for("sendChatAction")).params["action"] == "upload_photo"
    status = await fake.wait_for("sendMessage", says("Working"))
    assert buttons(status) == [action_id(Action.CANCEL, job_id)]
    deleted = await fake.wait_for("deleteMessage")
    assert deleted.params["message_id"] == status.result["message_id"]
    assert len(tg.agnes.image_requests()) == 1


async def test_edit_replying_to_a_photo_sends_a_data_uri_and_never_the_token(
    tg: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake, token = tg.fake, tg.fake.token
    file_id = fake.add_file(jpeg_bytes(80, 60))
    original = fake.push_message(GROUP, photo_file_id=file_id, caption="my photo", message_thread_id=5)
    fake.push_message(GROUP, "/edit make it snowy", reply_to=original["message"], message_thread_id=5)
    photo = await fake.wait_for("sendPhoto")
    # The same again as a photo sent with the command as its caption, and as an image document.
    fake.push_message(GROUP, photo_file_id=fake.add_file(png_bytes(30, 30)), caption="/edit@AtelierBot make it blue")
    doc = fake.add_file(png_bytes(20, 20), kind="document", file_name="a.png", mime_type="image/png")
    fake.push_message(USER, document_file_id=doc, caption="/edit make it green")
    await fake.wait_for("sendPhoto", count=3)

    assert photo.params["message_thread_id"] == 5
    edits = tg.agnes.image_requests()
    assert [r.body["prompt"] for r in edits] == ["make it snowy", "make it blue", "make it green"]
    assert all(r.body["image"][0].startswith("data:image/") for r in edits)
    assert fake.calls("getFile")[0].params["file_id"] == file_id
    for request in tg.agnes.requests:
        assert token not in json.dumps(request.headers) + json.dumps(request.body)
        assert "/file/bot" not in json.dumps(request.body)
    assert fake.requests_containing(token) == []  # never in a body, header or query (only in URL paths)
    assert token not in caplog.text and "TEST-fake-token" not in caplog.text
    assert "getFile" in caplog.text  # PTB's debug logging was captured, redacted


async def test_ask_streams_with_paced_edits(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> None:
    fake_agnes.chat_reply = " ".join(f"word{i}" for i in range(150))
    fake_agnes.chat_chunk, fake_agnes.latency = 20, 0.002
    pace, clock = 0.25, FakeClock()
    async with running_bot(tmp_path, fake_agnes, fake_telegram, telegram_stream_edit_seconds_private=pace) as tg:
        tg.adapter.outbox.clock = clock
        fake = tg.fake
        original = fake.push_message(USER, photo_file_id=fake.add_file(png_bytes()))
        question = fake.push_message(USER, "/ask what is in it?", reply_to=original["message"])
        async with clock.autojump():  # every wait for the chat's pace passes at once
            first = await fake.wait_for("sendMessage", says("word0"))  # after the photo hint's pace
            await fake.wait_for("editMessageText", says("word149"), timeout=10)
            await tg.idle()

    assert replied_to(first) == question["message"]["message_id"]
    assert text_of(first).strip() and "word149" not in text_of(first)  # sent on the first text, not at the end
    edits = fake.calls("editMessageText")
    assert all(e.params["message_id"] == first.result["message_id"] for e in edits)
    shown_at = [clock.at(call.ts) for call in [first, *edits]]
    gaps = [b - a for a, b in itertools.pairwise(shown_at)]
    assert len(edits) >= 2 and all(gap >= pace for gap in gaps), gaps  # paced on the clock, however fast the text
    assert fake.message(USER, first.result["message_id"])["text"] == fake_agnes.chat_reply
    vision = fake_agnes.chat_requests()[0].body["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in vision)


async def test_long_answers_continue_in_new_messages(tg: RunningBot) -> None:
    tg.agnes.chat_reply = ("All work and no play makes Jack a dull boy. " * 230).strip()  # ~10,000 chars
    tg.agnes.chat_chunk = 500
    tg.fake.push_message(USER, "write a lot")
    await tg.fake.wait_for("sendMessage", count=3, timeout=10)
    await tg.fake.wait_for_long_poll()

    texts = [m["text"] for m in tg.fake.sent_messages(USER)]
    assert len(texts) == 3 and all(len(t) <= 4096 for t in texts)
    assert " ".join(texts) == tg.agnes.chat_reply


async def test_reroll_and_edit_buttons_work_after_a_restart(tg: RunningBot) -> None:
    fake = tg.fake
    fake.push_message(USER, "/imagine a red fox --seed 7")
    photo = await fake.wait_for("sendPhoto")
    result = fake.message(USER, photo.result["message_id"])
    job_id = buttons(photo)[0].split(":")[2]

    await tg.restart()
    fake.push_callback_query(result, action_id(Action.REROLL, job_id))
    answer = await fake.wait_for("answerCallbackQuery")
    again = await fake.wait_for("sendPhoto", count=2)
    assert answer.ok and answer.params["text"]
    assert replied_to(again) == result["message_id"]
    assert tg.agnes.image_requests()[1].body["prompt"] == "a red fox"

    await tg.restart()
    fake.push_callback_query(result, action_id(Action.EDIT, job_id))
    prompt = await fake.wait_for("sendMessage", says("what should I change"))
    assert prompt.params["reply_markup"]["force_reply"] is True
    await tg.restart()  # the prompt keeps working across a restart too
    fake.push_message(USER, "make it blue", reply_to=prompt.result["message_id"])
    edited = await fake.wait_for("sendPhoto", count=3)
    request = tg.agnes.image_requests()[2].body
    assert request["prompt"] == "make it blue" and request["image"][0].startswith("data:image/png")
    assert buttons(edited)[0] != buttons(photo)[0]  # a new job with its own buttons
    assert len(fake.calls("answerCallbackQuery")) == 2


async def test_groups_only_answer_when_addressed(tg: RunningBot) -> None:
    fake = tg.fake
    for text in ("hello everyone", "/imagine@OtherBot a cat", "/weather", "draw me a cat"):
        fake.push_message(GROUP, text, user_id=2001)
    fake.push_message(GROUP, f"@{BOT_NAME} what is a lighthouse?", user_id=2001)
    answer = await fake.wait_for("sendMessage")
    assert answer.params["chat_id"] == GROUP
    assert len(fake.calls("sendMessage")) == 1 and tg.agnes.image_requests() == []
    chat = tg.agnes.chat_requests()
    assert len(chat) == 1 and chat[0].body["messages"][-1]["content"] == "what is a lighthouse?"

    # A reply to the bot continues that chain; a new mention starts a fresh one.
    await tg.idle()
    fake.push_message(GROUP, "and who keeps it?", user_id=2002, reply_to=answer.result["message_id"])
    await fake.wait_for("sendMessage", count=2)
    fake.push_message(GROUP, f"@{BOT_NAME} something else", user_id=2001)
    await fake.wait_for("sendMessage", count=3)
    follow_up, fresh = [r.body["messages"] for r in tg.agnes.chat_requests()[1:]]
    assert [m["content"] for m in follow_up[1:]] == [
        "what is a lighthouse?",
        tg.agnes.chat_reply,
        "and who keeps it?",
    ]
    assert len(fresh) == 2  # system prompt and the question only


async def test_group_settings_need_an_administrator(tg: RunningBot) -> None:
    fake = tg.fake
    fake.set_chat_member(GROUP, 3001, "administrator")
    fake.push_message(GROUP, "/settings@AtelierBot user_quota 5", user_id=2001)
    refused = await fake.wait_for("sendMessage")
    assert "Only this server's admins" in text_of(refused)

    fake.push_message(GROUP, "/settings@AtelierBot user_quota 5", user_id=3001)
    accepted = await fake.wait_for("sendMessage", count=2)
    assert text_of(accepted) == "user_quota is now 5 (images per member per day)."
    fake.push_message(GROUP, "/settings", user_id=3001)
    shown = await fake.wait_for("sendMessage", count=3)
    assert "user_quota = 5" in text_of(shown)
    assert [c.params["user_id"] for c in fake.calls("getChatMember")] == [2001, 3001]  # the second was cached


async def test_quota_and_provider_failures_answer_in_the_same_topic(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram, quota_images_per_user_per_day=1) as tg:
        fake = tg.fake
        fake_agnes.faults = [400]
        failed = fake.push_message(GROUP, "/imagine a castle", message_thread_id=42)
        error = await fake.wait_for("sendMessage", says("The provider could not accept this request"))
        fake.push_message(GROUP, "/imagine a castle", message_thread_id=42)
        await fake.wait_for("sendPhoto")
        over = fake.push_message(GROUP, "/imagine another castle", message_thread_id=42)
        refusal = await fake.wait_for("sendMessage", says("images today"))

    assert error.params["message_thread_id"] == 42 and replied_to(error) == failed["message"]["message_id"]
    assert refusal.params["message_thread_id"] == 42 and replied_to(refusal) == over["message"]["message_id"]
    assert "You have used 1 of your 1 images today" in text_of(refusal)
    assert len(fake_agnes.image_requests()) == 2


async def test_flood_control_is_waited_out(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as a timedelta, PTB's future default
    async with running_bot(tmp_path, fake_agnes, fake_telegram, telegram_progress_delay_seconds=60) as tg:
        await _flood_control_is_waited_out(tg)


async def _flood_control_is_waited_out(tg: RunningBot) -> None:
    clock = tg.adapter.outbox.clock = FakeClock()  # no status message: the photo is the chat's first call
    tg.fake.fail_next("sendPhoto", retry_after=7)
    tg.fake.push_message(USER, "/imagine a patient cat")
    refused = await tg.fake.wait_for("sendPhoto")
    assert refused.status == 429
    assert await clock.sleeping(lambda remaining: remaining == 7.0)  # the wait Telegram asked for
    assert clock.advance(6.5) == 0 and len(tg.fake.calls("sendPhoto")) == 1  # nothing tried before it is over
    clock.advance(0.5)
    photo = await tg.fake.wait_for("sendPhoto", lambda c: c.ok, timeout=10)
    assert clock.at(photo.ts) - clock.at(refused.ts) == 7.0
    assert uploaded_image(photo).format == "PNG"


async def test_a_quick_job_makes_no_call_but_its_photo_and_a_slower_one_shows_sending_photo(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram, telegram_progress_delay_seconds=2.0) as tg:
        mark = tg.fake.mark()
        tg.fake.push_message(USER, "/imagine a quick cat")
        await tg.fake.wait_for("sendPhoto", since=mark)
        assert [c.method for c in tg.fake.calls()[mark:] if c.chat_id == USER] == ["sendPhoto"]

        fake_agnes.latency = 0.8  # past the chat action's half second, short of the status message's 2 s
        mark = tg.fake.mark()
        tg.fake.push_message(USER, "/imagine a slower cat")
        await tg.fake.wait_for("sendPhoto", since=mark, timeout=10)
        calls = [c for c in tg.fake.calls()[mark:] if c.chat_id == USER]
        assert [c.method for c in calls] == ["sendChatAction", "sendPhoto"]
        assert calls[0].params["action"] == "upload_photo"


async def test_results_over_ten_megabytes_go_as_documents(tg: RunningBot) -> None:
    tg.agnes.image = noisy_png(11 * 1024 * 1024)
    tg.fake.push_message(USER, "/imagine static noise")
    document = await tg.fake.wait_for("sendDocument", timeout=20)
    assert document.ok and tg.fake.calls("sendPhoto") == []
    assert uploaded_image(document, "document").format == "PNG"
    assert len(buttons(document)) == 4


async def test_cancel_button_stops_the_job(tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram) -> None:
    fake_agnes.latency = 5
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        fake = tg.fake
        fake.push_message(USER, "/imagine something slow")
        status = await fake.wait_for("sendMessage", says("Working"))
        fake.push_callback_query(fake.message(USER, status.result["message_id"]), buttons(status)[0], user_id=2002)
        await fake.wait_for("answerCallbackQuery")  # someone else may not cancel it
        fake.push_callback_query(fake.message(USER, status.result["message_id"]), buttons(status)[0])
        cancelled = await fake.wait_for("sendMessage", says("Cancelled"))
        await fake.wait_for("deleteMessage")
        answers = fake.calls("answerCallbackQuery")

    assert "belongs to another chat" in answers[0].params["text"] and answers[0].params["show_alert"]
    assert answers[1].params["text"] == "Cancelling…"
    assert fake.calls("sendPhoto") == [] and cancelled.params["chat_id"] == USER


async def test_inputs_over_twenty_megabytes_are_refused_before_download(tg: RunningBot) -> None:
    big = tg.fake.add_file(
        b"\x89PNG" + bytes(21 * 1024 * 1024), kind="document", file_name="b.png", mime_type="image/png"
    )
    tg.fake.push_message(USER, document_file_id=big, caption="/edit make it small")
    refusal = await tg.fake.wait_for("sendMessage")
    assert "21.0 MB" in text_of(refusal) and "20 MB" in text_of(refusal)
    assert tg.fake.calls("getFile") == [] and tg.agnes.image_requests() == []


async def test_private_chat_plain_text_is_one_conversation_and_commands_are_listed(tg: RunningBot) -> None:
    tg.fake.push_message(USER, "hi")
    await tg.fake.wait_for("sendMessage")
    await tg.idle()
    tg.fake.push_message(USER, "again")
    await tg.fake.wait_for("sendMessage", count=2)
    assert len(tg.agnes.chat_requests()[1].body["messages"]) == 4  # system, hi, answer, again
    commands = [c["command"] for c in tg.fake.commands()]
    assert {"imagine", "edit", "ask", "chat", "usage", "settings", "cancel", "help", "models", "reset"} <= set(commands)


async def test_think_shows_reasoning_collapsed_then_the_answer_in_the_same_message(tg: RunningBot) -> None:
    reasoning = "Rayleigh scattering: shorter wavelengths scatter more. Mention the sunset too. 💡"
    tg.agnes.chat_scripts = [
        [
            {"choices": [{"index": 0, "delta": {"reasoning_content": reasoning}}]},
            {"choices": [{"index": 0, "delta": {"content": "Blue light scatters most in air."}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            "data: [DONE]",
        ]
    ]
    tg.fake.push_message(USER, "/think why is the sky blue?")
    thinking = await tg.fake.wait_for("sendMessage", says("Thinking"))
    await tg.fake.wait_for("editMessageText", says("Blue light scatters most in air."))
    await tg.fake.wait_for_long_poll()

    assert text_of(thinking) == f"💭 Thinking…\n{reasoning}"
    [quote] = thinking.params["entities"]
    assert quote["type"] == "expandable_blockquote"
    assert quote["offset"] == len("💭 Thinking…".encode("utf-16-le")) // 2 + 1
    assert quote["length"] == len(reasoning.encode("utf-16-le")) // 2  # UTF-16 units: the emoji counts 2
    [answer] = tg.fake.sent_messages(USER)
    assert answer["text"] == "Blue light scatters most in air."
    assert tg.agnes.chat_requests()[0].body["chat_template_kwargs"] == {"enable_thinking": True}


async def test_describe_replying_to_a_photo_gives_ideas_whose_buttons_imagine_them(tg: RunningBot) -> None:
    prompts = [f"a red square, take {n}" for n in range(1, 5)]
    tg.agnes.chat_reply = json.dumps({"prompts": prompts})
    fake = tg.fake
    original = fake.push_message(USER, photo_file_id=fake.add_file(png_bytes()))
    fake.push_message(USER, "/describe", reply_to=original["message"])
    shown = await fake.wait_for("sendMessage", says("Prompt ideas"))
    assert text_of(shown).splitlines()[1:] == [f"{n}. {p}" for n, p in enumerate(prompts, start=1)]
    ids = buttons(shown)
    assert len(ids) == 4 and all(i.startswith("atelier:idea:") for i in ids)
    vision = tg.agnes.chat_requests()[0].body["messages"][-1]["content"]
    assert vision[1]["image_url"]["url"].startswith("data:image/png;base64,")  # downloaded, never the file URL

    await tg.restart()
    fake.push_callback_query(fake.message(USER, shown.result["message_id"]), ids[3])
    await fake.wait_for("sendPhoto")
    assert tg.agnes.image_requests()[0].body["prompt"] == prompts[3]


async def test_asking_the_chat_to_draw_delivers_a_photo_with_buttons_charged_once(tg: RunningBot) -> None:
    call = {"index": 0, "id": "c1", "type": "function", "function": {"name": "generate_image", "arguments": ""}}
    arguments = json.dumps({"prompt": "a lighthouse at dusk, oil painting"})
    tg.agnes.chat_scripts = [
        [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}}]},
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": arguments}}]}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
            "data: [DONE]",
        ],
        [
            {"choices": [{"index": 0, "delta": {"content": "Here is your lighthouse."}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            "data: [DONE]",
        ],
    ]
    tg.fake.push_message(USER, "draw me a lighthouse")
    photo = await tg.fake.wait_for("sendPhoto")
    await tg.fake.wait_for("sendMessage", says("Here is your lighthouse."))
    await tg.idle()

    assert [b.split(":")[1] for b in buttons(photo)] == ["reroll", "subtle", "vary", "edit"]
    assert tg.agnes.image_requests()[0].body["prompt"] == "a lighthouse at dusk, oil painting"
    usage = await tg.core.store.quotas.usage(f"telegram:private:{USER}", f"telegram:{USER}")
    assert usage.user_used == 1
