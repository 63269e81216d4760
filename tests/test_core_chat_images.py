"""Conversation images are kept as files and referenced from the history, not stored inline: the model
still sees them on later turns, a file that has gone reads "[image no longer available]", and /reset,
the history cap and retention delete what no message uses any more."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from PIL import Image

from bot.conversation_images import GONE, ConversationImages, Picture
from bot.core import Atelier
from bot.providers.encoding import decode_data_uri
from bot.results import ResultFiles
from tests.conftest import make_settings
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import noisy_jpeg, png_bytes
from tests.recording import RecordingReply, make_request, say


def results_dir(core: Atelier) -> Path:
    return core.settings.database_path.parent / "results"


def kept(core: Atelier) -> list[Path]:
    return sorted(results_dir(core).glob("conv-*"))


async def stored_images(core: Atelier) -> list[str]:
    rows = await core.store.db.fetchall("SELECT images FROM conversation_messages ORDER BY id")
    return [image for row in rows for image in json.loads(row["images"])]


def sent_image(body: dict, index: int) -> bytes:
    return decode_data_uri(body["messages"][index]["content"][1]["image_url"]["url"])


async def test_ask_stores_a_reference_and_the_model_still_sees_the_image(core: Atelier, fake_agnes: FakeAgnes) -> None:
    photo = noisy_jpeg(1200)  # about a megabyte: inline, it was ~1.4 MB of data URI in the row
    asked = RecordingReply()
    await say(core, "/ask what is this?", make_request(images=[photo]), asked)
    assert asked.errors == []

    [reference] = await stored_images(core)
    assert reference.startswith("conv-") and reference.endswith(".jpg") and len(reference) < 64
    rows = await core.store.db.fetchall("SELECT length(images) AS size FROM conversation_messages")
    assert max(row["size"] for row in rows) < 100
    [path] = kept(core)
    first = fake_agnes.chat_requests()[0].body
    assert path.read_bytes() == sent_image(first, -1)  # the file holds what the model was shown

    follow = RecordingReply()
    await say(core, "and what colour is it?", make_request(), follow)
    later = fake_agnes.chat_requests()[1].body
    assert sent_image(later, 1) == sent_image(first, -1)  # loaded again for the model's history
    assert follow.errors == []


async def test_a_missing_file_degrades_to_a_note(core: Atelier, fake_agnes: FakeAgnes) -> None:
    await say(core, "/ask what is this?", make_request(images=[png_bytes()]), RecordingReply())
    for path in kept(core):
        path.unlink()
    follow = RecordingReply()
    await say(core, "tell me more", make_request(), follow)
    assert follow.errors == [] and "".join(follow.streamed[0]) == fake_agnes.chat_reply
    question = fake_agnes.chat_requests()[1].body["messages"][1]
    assert question == {"role": "user", "content": f"what is this?\n{GONE}"}


async def test_reset_and_the_history_cap_delete_files_no_message_uses(tmp_path: Path, fake_agnes: FakeAgnes) -> None:
    core = await Atelier.start(make_settings(tmp_path, fake_agnes, chat_history_turns=1))
    try:
        red, blue = png_bytes(color=(255, 0, 0)), png_bytes(color=(0, 0, 255))
        await say(core, "/ask what is this?", make_request(images=[red]), RecordingReply())
        [red_file] = kept(core)
        await say(core, "/ask and this?", make_request(images=[blue]), RecordingReply())
        assert not red_file.exists() and len(kept(core)) == 1  # the red turn fell off the one-turn history
        await say(core, "/ask and this again?", make_request(images=[blue]), RecordingReply())
        assert len(kept(core)) == 1  # the same image in the same conversation: one file, still used

        other = make_request(conversation="elsewhere", images=[blue])
        await say(core, "/ask what about here?", other, RecordingReply())
        assert len(kept(core)) == 2  # another conversation keeps its own file
        reset = RecordingReply()
        await say(core, "/reset", make_request(), reset)
        assert reset.texts == ["Conversation cleared: I have forgotten what we said here."]
        assert len(kept(core)) == 1 and await stored_images(core) == [kept(core)[0].name]
    finally:
        await core.close()


async def test_retention_prunes_conversation_files_by_last_use(tmp_path: Path) -> None:
    files = ResultFiles(tmp_path / "results")
    pictures = ConversationImages(files)
    [old] = await files.save("job1", "out", [png_bytes()])  # a job's result is not the conversations' to prune
    stale = await pictures.keep("c", [Picture(png_bytes(color=(1, 2, 3)), "image/png")])
    fresh = await pictures.keep("c", [Picture(png_bytes(color=(4, 5, 6)), "image/png")])
    month_ago = time.time() - 30 * 86400
    for name in (*stale, old):
        os.utime(tmp_path / "results" / name, (month_ago, month_ago))
    assert await pictures.prune(days=14) == 1
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == sorted([old, *fresh])

    os.utime(tmp_path / "results" / fresh[0], (month_ago, month_ago))
    await pictures.keep("c", [Picture(png_bytes(color=(4, 5, 6)), "image/png")])  # used again: its age renews
    assert await pictures.prune(days=14) == 0


async def test_the_kept_file_is_the_cleaned_image_upright_and_without_metadata(core: Atelier) -> None:
    photo = Image.new("RGB", (300, 200), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° to show upright", as a phone held in portrait writes it
    exif[0x010F] = "PhoneMaker"
    out = io.BytesIO()
    photo.save(out, "JPEG", exif=exif.tobytes())
    await say(core, "/ask what is this?", make_request(images=[out.getvalue()]), RecordingReply())
    [path] = kept(core)
    with Image.open(path) as stored:
        assert stored.size == (200, 300) and "exif" not in stored.info
