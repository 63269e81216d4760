"""`/describe`: four prompt ideas for an image, parsed from the model's JSON (or its list), each imagined by its
button, in this chat only, after a restart too."""

from __future__ import annotations

import json
from pathlib import Path

from bot.core import Atelier
from bot.messages import Action, idea_ref
from bot.prompt_ideas import parse_ideas
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.recording import RecordingReply, make_request, say

PROMPTS = [
    "A red square on white paper, flat minimalist print, even studio light",
    "A crimson cube floating over a salt flat at dawn, surreal photo, wide angle",
    "A red square painted in thick oil strokes, Rothko style, warm gallery light",
    "Pixel art of a red block on a white background, 8-bit, centred",
]


async def test_describe_shows_four_ideas_and_a_button_imagines_one_even_after_a_restart(
    tmp_path: Path, fake_agnes: FakeAgnes
) -> None:
    settings = make_settings(tmp_path, fake_agnes)
    core = await Atelier.start(settings)
    try:
        fake_agnes.chat_reply = json.dumps({"prompts": PROMPTS})
        reply = RecordingReply()
        await say(core, "/describe", make_request(images=[png_bytes()]), reply)
        assert reply.errors == []
        [(text, ideas_id, count)] = reply.ideas
        assert count == 4
        assert text.splitlines()[1:] == [f"{n}. {prompt}" for n, prompt in enumerate(PROMPTS, start=1)]
        [asked] = fake_agnes.chat_requests()
        system, user = asked.body["messages"]
        assert "JSON" in system["content"]
        assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
        assert fake_agnes.image_requests() == []  # nothing imagined, nothing charged yet
    finally:
        await core.close()

    restarted = await Atelier.start(settings)
    try:
        pressed = RecordingReply()
        job_id = await restarted.action(Action.IDEA, idea_ref(ideas_id, 2), make_request(), pressed)
        assert job_id is not None and len(pressed.deliveries) == 1
        assert fake_agnes.image_requests()[0].body["prompt"] == PROMPTS[1]
        elsewhere = RecordingReply()
        await restarted.action(Action.IDEA, idea_ref(ideas_id, 1), make_request(guild="g2"), elsewhere)
        assert elsewhere.errors == ["Those prompt ideas belong to another chat."]
        assert len(fake_agnes.image_requests()) == 1
    finally:
        await restarted.close()


async def test_a_model_that_answers_with_a_list_still_gives_ideas(core: Atelier, fake_agnes: FakeAgnes) -> None:
    fake_agnes.chat_reply = "Sure! Here are four prompts:\n" + "\n".join(f"{n}. {p}" for n, p in enumerate(PROMPTS, 1))
    reply = RecordingReply()
    await say(core, "/describe", make_request(images=[png_bytes()]), reply)
    assert reply.ideas[0][2] == 4 and PROMPTS[3] in reply.ideas[0][0]


async def test_no_image_or_no_ideas_is_a_plain_message(core: Atelier, fake_agnes: FakeAgnes) -> None:
    without = RecordingReply()
    await say(core, "/describe", make_request(), without)
    assert without.errors == ["Attach an image, or reply to one, with `/describe` to get four prompt ideas for it."]
    assert fake_agnes.requests == []
    fake_agnes.chat_reply = "I cannot help with that."
    refused = RecordingReply()
    await say(core, "/describe", make_request(images=[png_bytes()]), refused)
    assert refused.errors == ["The model gave no prompt ideas for this image. Please try again."]
    assert refused.ideas == []


def test_ideas_are_found_in_fenced_json_and_bullets_and_capped_at_four() -> None:
    fenced = 'Here you go:\n```json\n{"prompts": ["a", "b", "c", "d", "e"]}\n```'
    assert parse_ideas(fenced) == ["a", "b", "c", "d"]
    assert parse_ideas("- one fox\n- two  foxes\n") == ["one fox", "two foxes"]
    assert parse_ideas('{"prompts": "not a list"}') == []
    assert parse_ideas("") == []
