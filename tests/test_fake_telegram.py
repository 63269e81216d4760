"""Real python-telegram-bot against the fake Bot API server (tests/fakes/telegram_server.py)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image
from telegram import (
    Bot,
    ChatMemberAdministrator,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Update,
)
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes.telegram_server import FakeTelegram, auto_entities, parse_html, parse_markdown_v2

TOKEN = "123456:TEST-fake-token"
USER = 1001
GROUP = -1001234567890


def png(width: int = 64, height: int = 48, color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = FakeTelegram(token=TOKEN, bot_username="AtelierBot")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    fake.add_chat(USER)
    async with Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url) as client:
        yield client


def build_app(fake: FakeTelegram) -> Application:
    return ApplicationBuilder().token(TOKEN).base_url(fake.base_url).base_file_url(fake.base_file_url).build()


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


# ----------------------------------------------------------------------------- end to end via polling


async def test_start_command_reply_and_offset_confirmation(fake: FakeTelegram) -> None:
    app = build_app(fake)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(f"Hello {update.effective_user.first_name}!")

    app.add_handler(CommandHandler("start", start))
    async with polling(app):
        fake.push_message(USER, "/start", username="alice", first_name="Alice")
        call = await fake.wait_for("sendMessage")
        await fake.wait_until_confirmed()  # PTB's next getUpdates carries offset=update_id+1

    assert call.chat_id == USER
    assert call.result["text"] == "Hello Alice!"
    assert call.result["from"]["username"] == "AtelierBot"
    assert fake.sent_messages(USER)[0]["text"] == "Hello Alice!"
    assert fake.pending_updates == []
    assert [c.method for c in fake.calls()][:2] == ["getMe", "deleteWebhook"]


async def test_command_with_bot_username_in_forum_topic(fake: FakeTelegram) -> None:
    app = build_app(fake)

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("hi group")

    app.add_handler(CommandHandler("start", start))
    async with polling(app):
        fake.push_message(GROUP, "/start@OtherBot", user_id=7, message_thread_id=42)
        fake.push_message(GROUP, "/start@AtelierBot please", user_id=7, message_thread_id=42)
        call = await fake.wait_for("sendMessage")

    # updates are processed in order, so /start@OtherBot was already skipped by CommandHandler
    assert len(fake.calls("sendMessage")) == 1
    assert call.params["message_thread_id"] == 42
    assert call.result["message_thread_id"] == 42
    assert call.result["is_topic_message"] is True
    assert call.result["chat"]["type"] == "supergroup"


async def test_user_photo_download_in_handler(fake: FakeTelegram) -> None:
    app = build_app(fake)
    original = png(640, 480)
    received: list[bytes] = []

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        tg_file = await update.effective_message.photo[-1].get_file()
        received.append(bytes(await tg_file.download_as_bytearray()))
        await update.effective_message.reply_text(f"got {update.effective_message.caption}")

    app.add_handler(MessageHandler(filters.PHOTO, on_photo))
    async with polling(app):
        file_id = fake.add_file(original)
        fake.push_message(USER, caption="make it blue", photo_file_id=file_id)
        call = await fake.wait_for("sendMessage")

    assert received == [original]
    assert call.result["text"] == "got make it blue"


async def test_user_document_reaches_document_handler(fake: FakeTelegram) -> None:
    app = build_app(fake)

    async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        doc = update.effective_message.document
        data = await (await doc.get_file()).download_as_bytearray()
        await update.effective_message.reply_text(f"{doc.file_name} {doc.mime_type} {len(data)}")

    app.add_handler(MessageHandler(filters.Document.ALL, on_document))
    async with polling(app):
        file_id = fake.add_file(b"x" * 10, kind="document", file_name="ref.webp")
        fake.push_message(GROUP, document_file_id=file_id, user_id=7)
        call = await fake.wait_for("sendMessage")

    assert call.result["text"] == "ref.webp image/webp 10"


async def test_callback_query_reaches_handler(fake: FakeTelegram) -> None:
    app = build_app(fake)

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        await query.answer("working")
        await query.edit_message_text(f"pressed {query.data}")

    app.add_handler(CallbackQueryHandler(on_button))
    async with polling(app):
        fake.add_chat(USER)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Again", callback_data="again:1")]])
        sent = await app.bot.send_message(USER, "result", reply_markup=keyboard)
        fake.push_callback_query(sent, "again:1")
        await fake.wait_for("editMessageText")

    answer = fake.calls("answerCallbackQuery")[0]
    assert answer.ok and answer.params["text"] == "working"
    current = fake.message(USER, sent.message_id)
    assert current is not None and current["text"] == "pressed again:1"
    assert "reply_markup" not in current  # editMessageText without markup drops the keyboard
    assert [m["text"] for m in fake.message_history(USER, sent.message_id)] == ["result", "pressed again:1"]


# ------------------------------------------------------------------------------- direct Bot calls


async def test_send_photo_and_download_back(fake: FakeTelegram, bot: Bot) -> None:
    original = png(400, 300)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Upscale", callback_data="up")]])
    msg = await bot.send_photo(
        USER,
        photo=original,
        caption="<b>Done</b>",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        filename="out.png",
    )

    assert [(p.width, p.height) for p in msg.photo] == [(90, 68), (320, 240), (400, 300)]
    assert msg.caption == "Done" and msg.caption_entities[0].type == "bold"
    assert msg.reply_markup == keyboard
    call = fake.calls("sendPhoto")[0]
    assert call.files["photo"] == ("out.png", original)

    tg_file = await bot.get_file(msg.photo[-1].file_id)
    assert tg_file.file_path.startswith(f"{fake.base_file_url}{TOKEN}/photos/")
    assert bytes(await tg_file.download_as_bytearray()) == original
    thumb = await (await bot.get_file(msg.photo[0].file_id)).download_as_bytearray()
    assert Image.open(io.BytesIO(thumb)).size == (90, 68)


async def test_send_photo_by_url_and_by_file_id(fake: FakeTelegram, bot: Bot) -> None:
    first = await bot.send_photo(USER, photo=png(100, 100))
    path = (await bot.get_file(first.photo[-1].file_id)).file_path
    by_url = await bot.send_photo(USER, photo=path)  # the fake fetches URLs itself, like Telegram
    assert fake.file_bytes(by_url.photo[-1].file_id) == png(100, 100)
    again = await bot.send_photo(USER, photo=first.photo[-1].file_id)
    assert again.photo == first.photo
    with pytest.raises(BadRequest, match="Wrong file identifier/http url specified"):
        await bot.send_photo(USER, photo="no-such-file-id")


async def test_send_photo_rejects_non_image(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(USER, photo=b"not an image")


async def test_send_media_group_two_photos(fake: FakeTelegram, bot: Bot) -> None:
    request = fake.push_message(USER, "draw two cats")["message"]
    media = [
        InputMediaPhoto(png(color="red"), caption="first", filename="a.png"),
        InputMediaPhoto(png(color="blue"), filename="b.png"),
    ]
    messages = await bot.send_media_group(USER, media, reply_to_message_id=request["message_id"])

    assert len(messages) == 2
    assert messages[0].media_group_id == messages[1].media_group_id
    assert messages[0].caption == "first" and messages[1].caption is None
    assert all(m.reply_to_message.text == "draw two cats" for m in messages)
    call = fake.calls("sendMediaGroup")[0]
    assert [item["media"].startswith("attach://") for item in call.params["media"]] == [True, True]
    assert sorted(name for name, _ in call.files.values()) == ["a.png", "b.png"]
    assert call.params["reply_parameters"]["message_id"] == request["message_id"]
    assert messages[1].message_id == messages[0].message_id + 1


async def test_send_document_roundtrip(bot: Bot) -> None:
    msg = await bot.send_document(USER, document=b"%PDF-1.4 fake", filename="report.pdf", caption="here")
    assert msg.document.file_name == "report.pdf" and msg.document.mime_type == "application/pdf"
    data = await (await bot.get_file(msg.document.file_id)).download_as_bytearray()
    assert bytes(data) == b"%PDF-1.4 fake"


async def test_flood_control_raises_retry_after(fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # PTB 22 otherwise warns when reading retry_after
    fake.fail_next("sendMessage", retry_after=7)
    with pytest.raises(RetryAfter) as exc_info:
        await bot.send_message(USER, "hello")
    assert exc_info.value.retry_after == dtm.timedelta(seconds=7)
    assert (await bot.send_message(USER, "hello")).text == "hello"
    assert [c.status for c in fake.calls("sendMessage")] == [429, 200]


async def test_injected_forbidden(fake: FakeTelegram, bot: Bot) -> None:
    fake.fail_next("sendChatAction", error_code=403)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_chat_action(USER, ChatAction.UPLOAD_PHOTO)
    assert await bot.send_chat_action(USER, ChatAction.TYPING) is True


async def test_edit_message_text_not_modified(fake: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_message(USER, "Generating…")
    edited = await bot.edit_message_text("Done", chat_id=USER, message_id=msg.message_id)
    assert edited.text == "Done" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Done", chat_id=USER, message_id=msg.message_id)
    assert fake.calls("editMessageText")[-1].error.startswith("Bad Request: message is not modified: ")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_edit_caption_markup_and_delete(fake: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_photo(USER, photo=png(), caption="v1")
    assert (await bot.edit_message_caption(USER, msg.message_id, caption="v2")).caption == "v2"
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Retry", callback_data="retry")]])
    edited = await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard)
    assert edited.reply_markup == keyboard
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(USER, msg.message_id, reply_markup=keyboard)
    with pytest.raises(BadRequest, match="There is no text in the message to edit"):
        await bot.edit_message_text("x", chat_id=USER, message_id=msg.message_id)
    assert await bot.delete_message(USER, msg.message_id) is True
    assert fake.message(USER, msg.message_id) is None
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(USER, msg.message_id)


async def test_parse_mode_errors_like_telegram(bot: Bot) -> None:
    with pytest.raises(BadRequest, match='unsupported start tag "br" at byte offset 2'):
        await bot.send_message(USER, "a <br> b", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"character '\.' is reserved"):
        await bot.send_message(USER, "Done.", parse_mode=ParseMode.MARKDOWN_V2)
    ok = await bot.send_message(USER, "*Done*\\.", parse_mode=ParseMode.MARKDOWN_V2)
    assert ok.text == "Done." and ok.entities[0].type == "bold"
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(424242, "hi")


async def test_chat_member_chat_and_commands(fake: FakeTelegram, bot: Bot) -> None:
    fake.add_chat(GROUP, title="Artists")
    fake.set_chat_member(GROUP, 1, "creator")
    fake.set_chat_member(GROUP, 2, "administrator")
    assert isinstance(await bot.get_chat_member(GROUP, 1), ChatMemberOwner)
    assert isinstance(await bot.get_chat_member(GROUP, 2), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, 3), ChatMemberMember)
    chat = await bot.get_chat(GROUP)
    assert chat.title == "Artists" and chat.type == "supergroup"

    await bot.set_my_commands([("imagine", "Generate an image"), ("help", "Show help")])
    assert [c.command for c in await bot.get_my_commands()] == ["imagine", "help"]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([("Bad-Command", "nope")])


async def test_long_poll_wakes_on_push_and_honours_offset(fake: FakeTelegram, bot: Bot) -> None:
    since = fake.mark()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for_long_poll()
    fake.push_message(USER, "hi @AtelierBot see https://example.com #art")
    updates = await poll
    answered = await fake.wait_for("getUpdates", since=since)
    assert answered.long_poll == "woken"  # the push released the parked poll, not its 5 s timeout
    assert [u.message.text for u in updates] == ["hi @AtelierBot see https://example.com #art"]
    assert [e.type for e in updates[0].message.entities] == ["mention", "url", "hashtag"]
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert fake.pending_updates == []


async def test_token_only_in_url_path(fake: FakeTelegram, bot: Bot) -> None:
    msg = await bot.send_photo(USER, photo=png())
    await (await bot.get_file(msg.photo[-1].file_id)).download_as_bytearray()
    assert fake.requests_containing(TOKEN) == []
    assert len(fake.requests_containing(TOKEN, in_path=True)) == len(fake.requests)
    await bot.send_message(USER, f"leak {TOKEN}")
    assert len(fake.requests_containing(TOKEN)) == 1


async def test_wrong_token_and_unknown_method(fake: FakeTelegram) -> None:
    async with httpx.AsyncClient() as client:
        bad = await client.post(f"{fake.base_url}999:WRONG/getMe")
        assert bad.status_code == 401
        assert bad.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        missing = await client.post(f"{fake.base_url}{TOKEN}/fooBar")
        assert missing.status_code == 404 and missing.json()["description"] == "Not Found"
        # JSON bodies and GET query strings work too (other clients than PTB)
        fake.add_chat(USER)
        sent = await client.post(f"{fake.base_url}{TOKEN}/sendMessage", json={"chat_id": USER, "text": "/x"})
        assert sent.json()["result"]["entities"] == [{"offset": 0, "length": 2, "type": "bot_command"}]
        me = await client.get(f"{fake.base_url}{TOKEN}/getme")
        assert me.json()["result"]["username"] == "AtelierBot"
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass


def test_entity_and_markup_parsers() -> None:
    assert auto_entities("/start@AtelierBot 🎨 /help") == [
        {"offset": 0, "length": 17, "type": "bot_command"},
        {"offset": 21, "length": 5, "type": "bot_command"},  # the emoji is 2 UTF-16 units
    ]
    text, entities = parse_html('<pre><code class="language-py">x</code></pre> &lt;<a href="https://a.b">l</a>')
    assert text == "x <l"
    assert entities == [
        {"offset": 0, "length": 1, "type": "pre", "language": "py"},
        {"offset": 3, "length": 1, "type": "text_link", "url": "https://a.b"},
    ]
    text, entities = parse_markdown_v2("[a](https://x.y/\\)) __u__ `c\\`d`")
    assert text == "a u c`d"
    assert [e["type"] for e in entities] == ["text_link", "underline", "code"]
