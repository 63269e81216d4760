"""/ask, /chat threads, reply chains and DMs: streamed answers paced by edits, history per conversation."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from adapters.discord.requests import message_key, thread_key
from adapters.discord.stream import split_pages
from bot.providers.encoding import data_uri
from tests import test_discord_harness as harness
from tests.fake_clock import FakeClock
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.discord_server import CallbackType, FakeDiscord
from tests.test_discord_harness import (
    TIMEOUT,
    Bot,
    ephemeral_followup,
    eventually,
    png_of,
    running,
)

# Fixtures shared with the harness module.
fake_discord = harness.fake_discord
bot = harness.bot

WEBHOOK_EDIT = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


def long_answer(words: int = 420) -> str:
    return " ".join(f"word{i:03d}" for i in range(words))  # 8 chars a word: ~3,400 characters


def chat_turns(fake_agnes: FakeAgnes, index: int) -> list[tuple[str, str]]:
    """(role, text) of one chat request, images left out."""
    turns = []
    for message in fake_agnes.chat_requests()[index].body["messages"]:
        content = message["content"]
        if isinstance(content, list):
            content = " ".join(part.get("text", "") for part in content if part.get("type") == "text")
        turns.append((message["role"], content))
    return turns


def final_text(fake: FakeDiscord, message_ids: list[int]) -> list[str]:
    return [fake.message(mid)["content"] for mid in message_ids]


async def test_ask_streams_with_paced_edits_split_at_2000(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    answer, pace, clock = long_answer(), 1.0, FakeClock()
    fake_agnes.chat_reply, fake_agnes.chat_chunk, fake_agnes.latency = answer, 150, 0.002
    fake_discord.inject_rate_limit("PATCH", WEBHOOK_EDIT, retry_after=0.05)  # discord.py waits it out
    photo = fake_discord.add_attachment(png_of(), "chart.png")

    def done() -> list[int] | None:
        ids = [r.message_id for r in fake_discord.followups(inter) if r.message_id]
        if ids and " ".join(final_text(fake_discord, ids)).split() == answer.split():
            return ids
        return None

    async with (
        running(tmp_path, fake_agnes, fake_discord, clock=clock, discord_stream_edit_seconds=pace),
        clock.autojump(),  # every wait for the next edit passes at once
    ):
        inter = await fake_discord.dispatch_slash_command("ask", {"question": "what is this?", "image": photo})
        message_ids = await fake_discord.wait_until(done, 15, what="the whole answer")
    assert len(message_ids) == 2  # 3,400 characters: two messages
    assert all(len(text) <= 2000 for text in final_text(fake_discord, message_ids))
    total_edits = 0
    for message_id in message_ids:
        shown_at = [clock.at(r.timestamp) for r in fake_discord.edits_of(message_id)]
        total_edits += len(shown_at)
        gaps = [b - a for a, b in itertools.pairwise(shown_at)]
        assert all(gap >= pace for gap in gaps), gaps  # paced on the clock, however fast the text came
    assert total_edits >= 3  # it streamed, not one final message
    assert any(r.status == 429 for r in fake_discord.requests)
    question = fake_agnes.chat_requests()[0].body["messages"][-1]
    assert any(part.get("type") == "image_url" for part in question["content"])


async def test_chat_opens_a_thread_that_continues_without_commands_even_after_restart(
    tmp_path: Path, fake_discord: FakeDiscord, fake_agnes: FakeAgnes
) -> None:
    fake_agnes.chat_reply = "Lighthouses guide ships at night."
    async with running(tmp_path, fake_agnes, fake_discord):
        inter = await fake_discord.dispatch_slash_command("chat", {"message": "tell me about lighthouses"})
        created = await fake_discord.wait_for(lambda r: r.route.endswith("/threads") and r.status < 300, TIMEOUT)
        thread_id = int(created.response["id"])
        await fake_discord.wait_for_message(thread_id, lambda m: m["content"] == fake_agnes.chat_reply)
        starter = fake_discord.original_response(inter)
        assert starter is not None and "tell me about lighthouses" in starter["content"]

        await fake_discord.dispatch_message("nobody asked you")  # main channel, no mention: not for us
        fake_agnes.chat_reply = "Keepers did, now mostly machines."
        await fake_discord.dispatch_message("and who keeps them?", channel_id=thread_id)
        await fake_discord.wait_for_message(thread_id, lambda m: m["content"] == fake_agnes.chat_reply)
        typing = [r for r in fake_discord.requests if r.path == f"/channels/{thread_id}/typing"]
        assert typing, "the thread shows the bot typing while the model thinks"

    assert chat_turns(fake_agnes, 1)[1:] == [
        ("user", "tell me about lighthouses"),
        ("assistant", "Lighthouses guide ships at night."),
        ("user", "and who keeps them?"),
    ]

    async with running(tmp_path, fake_agnes, fake_discord) as restarted:
        assert (await restarted.core.store.conversations.linked(thread_key(thread_id)))[0] == thread_key(thread_id)
        fake_agnes.chat_reply = "Yes, still."
        await fake_discord.dispatch_message("still there?", channel_id=thread_id)
        await fake_discord.wait_for_message(thread_id, lambda m: m["content"] == "Yes, still.")
    assert len(fake_agnes.chat_requests()) == 3
    assert chat_turns(fake_agnes, 2)[-3:] == [
        ("user", "and who keeps them?"),
        ("assistant", "Keepers did, now mostly machines."),
        ("user", "still there?"),
    ]


async def test_mention_in_a_reply_chain_continues_that_conversation(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    fake_agnes.chat_reply = "A red square."
    photo = fake_discord.add_attachment(png_of(), "square.png")
    inter = await fake_discord.dispatch_slash_command("ask", {"question": "what shape?", "image": photo})
    answer = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)

    async def linked() -> str | None:  # the link is written just after the answer is posted
        return (await bot.core.store.conversations.linked(message_key(answer.message_id)))[0]

    assert await eventually(linked) == f"discord:ask:{inter.id}"

    fake_agnes.chat_reply = "Because you drew it."
    question = await fake_discord.dispatch_message(
        f"<@{fake_discord.bot_id}> why red?", message_reference=answer.message_id
    )
    reply = await fake_discord.wait_for_message(
        fake_discord.channel_id, lambda m: m["content"] == "Because you drew it."
    )
    assert reply["message_reference"]["message_id"] == question["id"]  # answered as a reply
    assert chat_turns(fake_agnes, 1)[1:] == [
        ("user", "what shape?"),
        ("assistant", "A red square."),
        ("user", "why red?"),
    ]


async def test_direct_messages_are_a_private_chat(fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot) -> None:
    fake_agnes.chat_reply = "Hello there."
    sent = await fake_discord.dispatch_message("hi", dm=True)
    await fake_discord.wait_for_message(int(sent["channel_id"]), lambda m: m["content"] == "Hello there.")
    assert chat_turns(fake_agnes, 0)[-1] == ("user", "hi")


async def test_edit_image_menu_opens_a_form_and_replies_to_the_message(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    photo = png_of((48, 32), "orange")
    posted = await fake_discord.dispatch_message(
        "my drawing", attachments=[fake_discord.add_attachment(photo, "d.png")]
    )
    inter = await fake_discord.dispatch_message_command("Edit image", posted)
    opened = await fake_discord.wait_for_callback(inter, TIMEOUT)
    assert opened.json["type"] == CallbackType.MODAL
    submit = await fake_discord.dispatch_modal_submit(
        opened.json["data"]["custom_id"], {"instruction": "make it snowy"}
    )

    result = await fake_discord.wait_for_message(
        fake_discord.channel_id,
        lambda m: (m.get("message_reference") or {}).get("message_id") == posted["id"] and bool(m["attachments"]),
    )
    body: dict[str, Any] = fake_agnes.image_requests()[0].body
    assert body["image"] == [data_uri(photo, "image/png")] and body["prompt"] == "make it snowy"
    assert len(result["components"][0]["components"]) == 4  # Reroll, Vary (Subtle), Vary (Strong), Edit
    # Its private "thinking" message went away once the public reply was posted.
    await fake_discord.wait_until(
        lambda: fake_discord.interactions[submit.id].original_message_id in fake_discord.deleted_messages, TIMEOUT
    )


async def test_menus_on_a_message_without_image_say_so(fake_discord: FakeDiscord, bot: Bot) -> None:
    posted = await fake_discord.dispatch_message("just words")
    for menu in ("Edit image", "Ask about image"):
        inter = await fake_discord.dispatch_message_command(menu, posted)
        callback = await fake_discord.wait_for_callback(inter, TIMEOUT)
        assert callback.json["type"] == CallbackType.CHANNEL_MESSAGE and callback.json["data"]["flags"] & 64
        assert "no image" in callback.json["data"]["content"]


async def test_ask_about_image_menu_streams_an_answer(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    fake_agnes.chat_reply = "An orange rectangle."
    posted = await fake_discord.dispatch_message("", attachments=[fake_discord.add_attachment(png_of(), "p.png")])
    inter = await fake_discord.dispatch_message_command("Ask about image", posted)
    opened = await fake_discord.wait_for_callback(inter, TIMEOUT)
    submit = await fake_discord.dispatch_modal_submit(opened.json["data"]["custom_id"], {"instruction": ""})
    await fake_discord.wait_until(
        lambda: (m := fake_discord.original_response(submit)) and m["content"] == "An orange rectangle.", TIMEOUT
    )
    assert chat_turns(fake_agnes, 0)[-1] == ("user", "Describe this image.")


async def test_edit_command_refuses_a_huge_image_before_downloading(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    huge = fake_discord.add_attachment(png_of(), "huge.png")
    huge["size"] = 25 * 1024 * 1024
    inter = await fake_discord.dispatch_slash_command("edit", {"instruction": "brighter", "image": huge})
    error = await ephemeral_followup(fake_discord, inter)
    assert "25.0 MB" in error.json["content"] and "20 MB" in error.json["content"]
    assert not any(huge["id"] in path for path in fake_discord.cdn_requests)
    assert not fake_agnes.image_requests()

    small = fake_discord.add_attachment(png_of(), "small.png")
    inter = await fake_discord.dispatch_slash_command("edit", {"instruction": "brighter", "image": small})
    result = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    assert result.files and fake_agnes.image_requests()[0].body["prompt"] == "brighter"


async def test_edit_command_takes_a_reference_and_a_mask(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    image = fake_discord.add_attachment(png_of(), "photo.png")
    mask = fake_discord.add_attachment(png_of(), "mask.png")
    inter = await fake_discord.dispatch_slash_command("edit", {"instruction": "pink sky", "image": image, "mask": mask})
    error = await ephemeral_followup(fake_discord, inter)
    assert "cannot take a mask" in error.json["content"]  # Agnes has none, and says so before any call
    assert not fake_agnes.image_requests()

    second = fake_discord.add_attachment(png_of(), "style.png")
    inter = await fake_discord.dispatch_slash_command(
        "edit", {"instruction": "in this style", "image": image, "reference": second}
    )
    await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    assert len(fake_agnes.image_requests()[0].body["image"]) == 2


def test_pages_are_stable_once_a_later_page_exists() -> None:
    text = long_answer(800)
    full = split_pages(text)
    assert all(len(page) <= 2000 for page in full) and " ".join(full).split() == text.split()
    for end in range(2100, len(text), 97):  # as the text streams in, earlier pages never change
        partial = split_pages(text[:end])
        assert partial[:-1] == full[: len(partial) - 1]
    assert split_pages("   ") == [] and split_pages("x" * 4001) == ["x" * 2000, "x" * 2000, "x"]


def test_a_page_cut_inside_a_code_block_closes_and_reopens_it() -> None:
    code = "\n".join(f"    line_{n} = {n} * 2  # keep indentation" for n in range(120))
    text = "Here is the script:\n```python\n" + code + "\n```\nThat is all."
    pages = split_pages(text)
    assert len(pages) >= 3 and all(len(page) <= 2000 for page in pages)
    for page in pages:
        assert page.count("```") % 2 == 0, page[-80:]  # every page renders its code as code
    assert pages[1].startswith("```python\n    line_")  # reopened with its language and indentation
    rejoined = "\n".join(pages).replace("\n```\n```python\n", "\n")
    assert rejoined == text
    for end in range(2100, len(text), 211):  # streamed: pages already shown never change
        partial = split_pages(text[:end])
        assert partial[:-1] == pages[: len(partial) - 1]


async def test_think_shows_a_collapsed_thinking_line_that_the_answer_then_replaces(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    fake_agnes.chat_scripts = [
        [
            {"choices": [{"index": 0, "delta": {"reasoning_content": "Light travels; the sea scatters blue."}}]},
            {"choices": [{"index": 0, "delta": {"content": "Because water absorbs red light."}}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            "data: [DONE]",
        ]
    ]
    await fake_discord.dispatch_slash_command("think", {"message": "why is the sea blue?"})
    created = await fake_discord.wait_for(lambda r: r.route.endswith("/threads") and r.status < 300, TIMEOUT)
    thread_id = int(created.response["id"])
    await fake_discord.wait_for_message(thread_id, lambda m: m["content"] == "Because water absorbs red light.")
    posts = [r.json["content"] for r in fake_discord.requests if r.path == f"/channels/{thread_id}/messages"]
    assert posts == ["-# 💭 Thinking… ||Light travels; the sea scatters blue.||"]  # then edited into the answer
    bot_messages = [m for m in fake_discord.messages_in(thread_id) if m["author"]["id"] == str(fake_discord.bot_id)]
    assert [m["content"] for m in bot_messages] == ["Because water absorbs red light."]
    body = fake_agnes.chat_requests()[0].body
    assert body["chat_template_kwargs"] == {"enable_thinking": True}

    async def stored() -> list[str]:  # the turn is kept just after the answer is shown
        return [m.text for m in await bot.core.store.conversations.history(thread_key(thread_id))]

    assert await eventually(stored) == ["why is the sea blue?", "Because water absorbs red light."]


async def test_describe_gives_four_ideas_with_buttons_that_imagine_them(
    fake_discord: FakeDiscord, fake_agnes: FakeAgnes, bot: Bot
) -> None:
    prompts = [f"idea number {n}, a lighthouse in style {n}" for n in range(1, 5)]
    fake_agnes.chat_reply = '{"prompts": ' + str(prompts).replace("'", '"') + "}"
    photo = fake_discord.add_attachment(png_of(), "coast.png")
    inter = await fake_discord.dispatch_slash_command("describe", {"image": photo})
    shown = await fake_discord.wait_for_followup(inter, timeout=TIMEOUT)
    assert shown.json["content"].splitlines()[1:] == [f"{n}. {p}" for n, p in enumerate(prompts, start=1)]
    buttons = [c for row in shown.json["components"] for c in row["components"]]
    assert [b["label"] for b in buttons] == ["Imagine 1", "Imagine 2", "Imagine 3", "Imagine 4"]
    assert all(b["custom_id"].startswith("atelier:idea:") for b in buttons)
    assert fake_agnes.image_requests() == []

    click = await fake_discord.dispatch_component(buttons[2]["custom_id"], message=shown.message_id)
    result = await fake_discord.wait_for_followup(click, timeout=TIMEOUT)
    assert result.files and fake_agnes.image_requests()[0].body["prompt"] == prompts[2]
