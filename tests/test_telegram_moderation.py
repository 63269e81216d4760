"""Moderation on Telegram (issue 10), end to end: python-telegram-bot against FakeTelegram, FakeAgnes and
the fake moderation API. Group admins (getChatMember) run `/mod`; forum topics are channels; flagged
results go behind a spoiler or to the moderators' topic, whose buttons work for admins only, also after a
restart; held results are approved (posted as a reply to the request) or rejected (the requester told)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.telegram.desk import TelegramDesk
from bot.messages import Action, ResultImage
from bot.moderation.desk import DeskItem, ModVerb, mod_button_id
from tests import test_telegram_harness as harness
from tests.fakes.agnes_server import FakeAgnes
from tests.fakes.images import png_bytes
from tests.fakes.moderation_server import FakeModeration
from tests.fakes.telegram_server import Call, CallPredicate, FakeTelegram, JSONDict
from tests.moderation_kit import every_mod_line, fake_moderation_fixture, with_model  # noqa: F401 - a pytest fixture
from tests.test_telegram_harness import GROUP, USER, RunningBot, buttons, replied_to, running_bot, text_of

fake_telegram_fixture, tg_fixture = harness.fake_telegram_fixture, harness.tg_fixture  # the pytest fixtures

pytestmark = pytest.mark.timeout(60)
ADMIN = 2002
FORUM = -1005550001111
TOPICS = {"Moderators": 1, "Art": 2, "Talk": 3}  # a new forum's topics, in the order they are opened
MODS_TOPIC, ART_TOPIC, TALK_TOPIC = TOPICS.values()
NAMES = {ADMIN: "Ada", USER: "Bob"}
RED = (255, 0, 0)
MOD_LINES = every_mod_line(str(ADMIN))


def open_forum(fake: FakeTelegram) -> None:
    """A forum group whose topics Bob opened, with Ada as its administrator."""
    assert [fake.open_topic(FORUM, name, user_id=USER) for name in TOPICS] == list(TOPICS.values())
    fake.set_chat_member(FORUM, ADMIN, "administrator")


def forum_bot(
    tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, **settings: Any
) -> contextlib.AbstractAsyncContextManager[RunningBot]:
    """A bot in the forum group (Bob opened its topics: every message in them "replies" to Bob's opening
    message; Ada is its administrator)."""
    open_forum(fake)
    return running_bot(tmp_path, agnes, fake, **settings)


def model_bot(
    tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, moderation: FakeModeration, *, forum: bool = False
) -> contextlib.AbstractAsyncContextManager[RunningBot]:
    """A bot that checks prompts, results and answers with the moderation model (in the forum group)."""
    # 5 s: the huge-image test's moderation shrinks a 27-megapixel result first, which a loaded 2-core
    # machine (CI running beside other work) has taken over 1 s to do.
    settings = with_model(moderation, moderation_timeout_seconds=5.0)
    return (forum_bot if forum else running_bot)(tmp_path, agnes, fake, **settings)


def flagging_bot(
    tmp_path: Path, agnes: FakeAgnes, fake: FakeTelegram, moderation: FakeModeration, *, forum: bool = False
) -> contextlib.AbstractAsyncContextManager[RunningBot]:
    """A bot with the moderation model, which flags every image the fake Agnes makes (red) as violent."""
    agnes.image = png_bytes(color=RED)
    moderation.flag_images(colour=RED, violence=0.95)
    return model_bot(tmp_path, agnes, fake, moderation, forum=forum)


def post(tg: RunningBot, chat: int, text: str, user: int = USER, **kwargs: Any) -> JSONDict:
    """A member's message in a group (a topic with `message_thread_id`): the message, as Telegram stored it."""
    return tg.fake.push_message(chat, text, user_id=user, first_name=NAMES.get(user), **kwargs)["message"]


def replying_to(message: JSONDict, method: str = "sendMessage") -> CallPredicate:
    """A call answering `message` (in its chat, quoting it)."""
    chat = message["chat"]["id"]
    return lambda call: (
        call.method == method
        and call.ok
        and call.params.get("chat_id") == chat
        and replied_to(call) == message["message_id"]
    )


async def answer_to(tg: RunningBot, message: JSONDict, method: str = "sendMessage") -> Call:
    return await tg.fake.wait_for(replying_to(message, method), timeout=10)


async def run_mod(tg: RunningBot, chat: int, line: str, **kwargs: Any) -> str:
    """An admin's `/mod ...` in the group; returns the bot's answer."""
    return text_of(await answer_to(tg, post(tg, chat, line, ADMIN, **kwargs)))


async def used(tg: RunningBot, chat: int = GROUP, user: int = USER) -> int:
    return (await tg.core.store.quotas.usage(f"telegram:guild:{chat}", f"telegram:{user}")).user_used


def in_topic(topic: int, method: str) -> CallPredicate:
    return lambda call: call.method == method and call.ok and call.params.get("message_thread_id") == topic


def press(tg: RunningBot, call: Call, data: str, user: int) -> None:
    message = tg.fake.message(call.result["chat"]["id"], call.result["message_id"])
    tg.fake.push_callback_query(message, data, user_id=user, first_name=NAMES.get(user))


async def callback_answer(tg: RunningBot, since: int) -> Call:
    return await tg.fake.wait_for("answerCallbackQuery", since=since, timeout=10)


# ------------------------------------------------------------------------------------ access and text


async def test_an_admins_blocked_term_refuses_its_evasions_with_no_image_call_and_no_charge(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.set_chat_member(GROUP, ADMIN, "administrator")
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        added = await run_mod(tg, GROUP, "/mod block add lighthouse")
        refusals = []
        for prompt in (
            "/imagine a L1GHT-h0use at dusk",
            "/imagine a l i g h t h o u s e",
            "/imagine ｌｉｇｈｔｈｏｕｓｅ",
        ):
            refusals.append(text_of(await answer_to(tg, post(tg, GROUP, prompt))))
        await tg.idle()
        usage = await used(tg)

    assert "lighthouse" in added
    assert all(refusal and "lighthouse" not in refusal.lower() for refusal in refusals)
    assert fake_agnes.image_requests() == [] and not tg.fake.calls("sendPhoto")
    assert usage == 0


async def test_a_members_mod_is_refused_and_help_lists_mod_to_admins_only(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.set_chat_member(GROUP, ADMIN, "administrator")
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        refusals = [text_of(await answer_to(tg, post(tg, GROUP, line))) for line in MOD_LINES]
        members_help = text_of(await answer_to(tg, post(tg, GROUP, "/help")))
        admins_help = text_of(await answer_to(tg, post(tg, GROUP, "/help", ADMIN)))
        listed = await run_mod(tg, GROUP, "/mod block list")
        policy = await tg.core.store.moderation.policy(f"telegram:guild:{GROUP}")
        scope_settings = await tg.core.store.settings.all(f"telegram:guild:{GROUP}")

    assert all("Only this server's admins can use /mod" in refusal for refusal in refusals)
    assert not scope_settings and not policy.channels and not policy.reviewed_channels
    assert "/mod block" not in members_help and "/mod block" in admins_help
    assert "cat" not in listed and not policy.terms and not policy.bans


async def test_a_member_banned_by_replying_to_their_message_is_refused(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.set_chat_member(GROUP, ADMIN, "administrator")
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        spam = post(tg, GROUP, "buy cheap followers here")  # not for the bot: left alone
        banned = await run_mod(tg, GROUP, "/mod ban 2h spamming", reply_to=spam["message_id"])
        refusal = text_of(await answer_to(tg, post(tg, GROUP, "/imagine a quiet harbour")))
        chat_refusal = text_of(await answer_to(tg, post(tg, GROUP, f"@{harness.BOT_NAME} hello?")))
        await tg.idle()
        bans = (await tg.core.store.moderation.policy(f"telegram:guild:{GROUP}")).bans
        usage = await used(tg)

    assert "Bob" in banned
    assert list(bans) == [f"telegram:{USER}"] and bans[f"telegram:{USER}"].until is not None
    assert "banned" in refusal.lower() and "banned" in chat_refusal.lower()
    assert fake_agnes.image_requests() == [] and fake_agnes.chat_requests() == [] and usage == 0


async def test_in_a_topic_a_ban_names_the_member_replied_to_never_the_topics_opener(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    carol = 3003
    async with forum_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        unnamed = await run_mod(tg, FORUM, "/mod ban", message_thread_id=ART_TOPIC)
        spam = post(tg, FORUM, "cheap followers", carol, message_thread_id=ART_TOPIC)
        await run_mod(tg, FORUM, "/mod ban 1d", message_thread_id=ART_TOPIC, reply_to=spam["message_id"])
        refusal = await answer_to(tg, post(tg, FORUM, "/imagine a fox", carol, message_thread_id=ART_TOPIC))
        photo = await answer_to(tg, post(tg, FORUM, "/imagine a fox", message_thread_id=ART_TOPIC), "sendPhoto")
        await tg.idle()
        bans = (await tg.core.store.moderation.policy(f"telegram:guild:{FORUM}")).bans

    assert "Usage" in unnamed
    assert list(bans) == [f"telegram:{carol}"]
    assert "banned" in text_of(refusal).lower() and refusal.params.get("message_thread_id") == ART_TOPIC
    assert photo.params.get("message_thread_id") == ART_TOPIC and len(fake_agnes.image_requests()) == 1


async def test_a_topic_set_to_chat_only_refuses_imagine_while_another_topic_allows_it(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with forum_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        await run_mod(tg, FORUM, "/mod channel chat", message_thread_id=TALK_TOPIC)
        refusal = await answer_to(tg, post(tg, FORUM, "/imagine a red kite", message_thread_id=TALK_TOPIC))
        photo = await answer_to(tg, post(tg, FORUM, "/imagine a red kite", message_thread_id=ART_TOPIC), "sendPhoto")
        await tg.idle()
        usage = await used(tg, FORUM)

    assert refusal.params.get("message_thread_id") == TALK_TOPIC and "image" in text_of(refusal).lower()
    assert photo.params.get("message_thread_id") == ART_TOPIC
    assert len(fake_agnes.image_requests()) == 1 and usage == 1


# ------------------------------------------------------------------------------------ flagged results


async def test_spoiler_mode_sends_a_flagged_result_behind_a_spoiler(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, fake_moderation: FakeModeration
) -> None:
    fake_telegram.set_chat_member(GROUP, ADMIN, "administrator")
    async with flagging_bot(tmp_path, fake_agnes, fake_telegram, fake_moderation) as tg:
        await run_mod(tg, GROUP, "/mod output spoiler")
        request = post(tg, GROUP, "/imagine a battle scene")
        photo = await answer_to(tg, request, "sendPhoto")
        shown = tg.fake.message(GROUP, photo.result["message_id"])
        fake_agnes.image = png_bytes(6000, 4500, color=RED)  # too big for a photo: documents have no spoiler
        big = await answer_to(tg, post(tg, GROUP, "/imagine a huge battle"), "sendPhoto")
        fake_agnes.image = png_bytes(color=(40, 90, 200))  # a clean result: no spoiler
        clean = await answer_to(tg, post(tg, GROUP, "/imagine a calm meadow"), "sendPhoto")
        await tg.idle()

    assert photo.params.get("has_spoiler") is True and shown is not None and shown["has_media_spoiler"] is True
    assert buttons(photo)  # Reroll, Vary, Edit still under it
    assert big.params.get("has_spoiler") is True and not tg.fake.calls("sendDocument")
    assert max(harness.uploaded_image(big).size) <= 4096  # sent reduced, behind the spoiler
    assert not clean.params.get("has_spoiler")


async def test_a_moderators_delete_removes_a_spoilered_result_from_its_topic(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, fake_moderation: FakeModeration
) -> None:
    async with flagging_bot(tmp_path, fake_agnes, fake_telegram, fake_moderation, forum=True) as tg:
        await run_mod(tg, FORUM, "/mod logchannel", message_thread_id=MODS_TOPIC)
        await run_mod(tg, FORUM, "/mod output spoiler", message_thread_id=MODS_TOPIC)
        posted = await answer_to(tg, post(tg, FORUM, "/imagine a battle", message_thread_id=ART_TOPIC), "sendPhoto")
        alert = await tg.fake.wait_for(lambda call: bool(buttons(call)) and in_topic(MODS_TOPIC, call.method)(call))
        delete = next(data for data in buttons(alert) if data.startswith(f"atelier-mod:{ModVerb.DELETE}:"))
        await tg.restart()  # the posted result's ref is in the database
        mark = tg.fake.mark()
        press(tg, alert, delete, ADMIN)
        removal = await tg.fake.wait_for("deleteMessage", since=mark, timeout=10)
        await callback_answer(tg, mark)
        mark = tg.fake.mark()
        press(tg, alert, delete, ADMIN)  # once only
        again = await callback_answer(tg, mark)
        await tg.idle()

    assert posted.params.get("has_spoiler") is True and posted.params.get("message_thread_id") == ART_TOPIC
    assert removal.params == {"chat_id": FORUM, "message_id": posted.result["message_id"]}
    assert tg.fake.message(FORUM, posted.result["message_id"]) is None
    assert "already" in text_of(again).lower()


async def test_a_withheld_result_goes_only_to_the_moderators_topic_whose_buttons_work_for_admins_only(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, fake_moderation: FakeModeration
) -> None:
    async with flagging_bot(tmp_path, fake_agnes, fake_telegram, fake_moderation, forum=True) as tg:
        await run_mod(tg, FORUM, "/mod logchannel", message_thread_id=MODS_TOPIC)
        request = post(tg, FORUM, "/imagine a battle scene", message_thread_id=ART_TOPIC)
        told = await answer_to(tg, request)
        alert = await tg.fake.wait_for(in_topic(MODS_TOPIC, "sendPhoto"), timeout=10)
        data = buttons(alert)
        entry_id = int(data[0].split(":")[2])

        refusals = []
        for verb in data:  # a member can press neither
            mark = tg.fake.mark()
            press(tg, alert, verb, USER)
            refusals.append(await callback_answer(tg, mark))
        mark = tg.fake.mark()
        press(tg, alert, mod_button_id(ModVerb.BAN, entry_id), ADMIN)
        done = await callback_answer(tg, mark)
        settled = await tg.fake.wait_for("editMessageReplyMarkup", since=mark, timeout=10)
        note = await tg.fake.wait_for(in_topic(MODS_TOPIC, "sendMessage"), since=mark, timeout=10)
        banned = text_of(await answer_to(tg, post(tg, FORUM, "/imagine another one", message_thread_id=ART_TOPIC)))
        await tg.idle()
        usage = await used(tg, FORUM)

    assert "held back" in text_of(told)
    # Nothing was posted where it was asked for: the only photo is the moderators' spoilered copy.
    assert [call.params.get("message_thread_id") for call in tg.fake.calls("sendPhoto")] == [MODS_TOPIC]
    assert alert.params.get("has_spoiler") is True and "battle scene" in text_of(alert)
    assert data == [mod_button_id(ModVerb.BAN, entry_id), mod_button_id(ModVerb.DISMISS, entry_id)]
    assert all(refused.params.get("show_alert") is True and "moderators" in text_of(refused) for refused in refusals)
    assert done.params.get("show_alert") is not True and text_of(done)
    assert tg.fake.message(FORUM, alert.result["message_id"]).get("reply_markup") is None  # type: ignore[union-attr]
    assert settled.ok and replied_to(note) == alert.result["message_id"] and "Ada" in text_of(note)
    assert "banned" in banned.lower()
    assert usage == 1  # the withheld one was made and paid for; the banned request costs nothing


async def test_moderation_service_down_fails_closed_and_charges_nothing(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, fake_moderation: FakeModeration
) -> None:
    fake_moderation.fail(status=500, times=100)
    async with model_bot(tmp_path, fake_agnes, fake_telegram, fake_moderation) as tg:
        refusal = text_of(await answer_to(tg, post(tg, GROUP, "/imagine a lighthouse")))
        await tg.idle()
        usage = await used(tg)

    assert "Moderation is unavailable" in refusal and "nothing was charged" in refusal
    assert "500" not in refusal and "Traceback" not in refusal
    assert fake_agnes.image_requests() == [] and usage == 0


async def test_a_flagged_chat_answer_is_replaced_in_every_message_it_was_shown_in(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram, fake_moderation: FakeModeration
) -> None:
    fake_agnes.chat_reply = "calm words " * 450 + "a forbidden recipe"  # over 4,096 characters: two messages
    fake_agnes.chat_chunk = 600
    fake_moderation.flag_text("forbidden recipe", illicit_violent=0.97)
    async with model_bot(tmp_path, fake_agnes, fake_telegram, fake_moderation) as tg:
        tg.fake.push_message(USER, "tell me something")
        await tg.fake.wait_for("editMessageText", harness.says("hidden by moderation"), timeout=15)
        await tg.idle()

    shown = [message.get("text", "") for message in tg.fake.sent_messages(USER)]
    assert len(tg.fake.sent_messages(USER, include_deleted=True)) >= 2  # it had been split
    assert shown == ["⚠️ This answer was hidden by moderation here."]


# ------------------------------------------------------------------------------------ the review queue


async def test_review_queue_approve_and_reject_also_across_a_restart(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with forum_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        await run_mod(tg, FORUM, "/mod logchannel", message_thread_id=MODS_TOPIC)
        await run_mod(tg, FORUM, "/mod review on", message_thread_id=ART_TOPIC)
        first = post(tg, FORUM, "/imagine a calm lake", message_thread_id=ART_TOPIC)
        waiting = text_of(await answer_to(tg, first))
        held = await tg.fake.wait_for(in_topic(MODS_TOPIC, "sendPhoto"), timeout=10)
        second = post(tg, FORUM, "/imagine a quiet wood", message_thread_id=ART_TOPIC)
        held_again = await tg.fake.wait_for(in_topic(MODS_TOPIC, "sendPhoto"), count=2, timeout=10)
        await tg.idle()

        await tg.restart()  # pending reviews, and their buttons, live in the database
        [approve, reject] = buttons(held)
        refusals = []
        for data in (approve, reject):  # a member can do neither
            mark = tg.fake.mark()
            press(tg, held, data, USER)
            refusals.append(text_of(await callback_answer(tg, mark)))
        press(tg, held, approve, ADMIN)
        posted = await answer_to(tg, first, "sendPhoto")
        press(tg, held_again, buttons(held_again)[1], ADMIN)
        rejected = text_of(await tg.fake.wait_for(replying_to(second), count=2, timeout=10))
        await tg.idle()
        usage = await used(tg, FORUM)

    assert "approval" in waiting
    assert held.params.get("has_spoiler") is True and "calm lake" in text_of(held)
    assert (approve, reject) == (
        mod_button_id(ModVerb.APPROVE, int(approve.split(":")[2])),
        mod_button_id(ModVerb.REJECT, int(approve.split(":")[2])),
    )
    assert all("moderators" in refused for refused in refusals)
    # Approved: posted in its topic as a reply to the request, with the usual buttons, once.
    assert posted.params.get("message_thread_id") == ART_TOPIC and not posted.params.get("has_spoiler")
    assert [data.split(":")[1] for data in buttons(posted)] == [Action.REROLL, Action.SUBTLE, Action.VARY, Action.EDIT]
    assert "Bob" in text_of(posted)
    # Rejected: never posted where it was asked; the requester is told.
    photos_in_art = [call for call in tg.fake.calls("sendPhoto") if call.params.get("message_thread_id") == ART_TOPIC]
    assert photos_in_art == [posted]
    assert "did not approve" in rejected and "quiet wood" in rejected
    assert len(fake_agnes.image_requests()) == 2 and usage == 2


async def test_private_chats_refused_when_the_operator_turns_them_off(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram, allow_private_chats=False) as tg:
        update = tg.fake.push_message(USER, "/imagine a lighthouse")
        refusal = text_of(await answer_to(tg, update["message"]))
        await tg.idle()
        usage = await tg.core.store.quotas.usage(f"telegram:private:{USER}", f"telegram:{USER}")

    assert "servers and groups only" in refusal
    assert fake_agnes.image_requests() == [] and usage.user_used == 0


async def test_a_desk_item_with_several_images_posts_a_spoilered_album_then_its_buttons(
    tmp_path: Path, fake_agnes: FakeAgnes, fake_telegram: FakeTelegram
) -> None:
    async with running_bot(tmp_path, fake_agnes, fake_telegram) as tg:
        open_forum(fake_telegram)
        desk = TelegramDesk(tg.adapter.outbox, timeout=10)
        place = json.dumps({"chat": FORUM, "thread": MODS_TOPIC, "message": None, "group": True})
        images = [ResultImage(png_bytes(color=RED), "image/png", 64, 48) for _ in range(2)]
        item = DeskItem("alert", 7, "Bob asked for: a battle", images, [ModVerb.BAN, ModVerb.DISMISS])
        ref = await desk.post(place, item)
        await desk.settle(ref or "", "👌 Dismissed by Ada")
        gone = await desk.delete(ref or "")
        gone_again = await desk.delete(ref or "")

    [album] = tg.fake.calls("sendMediaGroup")
    [text, note] = tg.fake.calls("sendMessage")
    assert [media.get("has_spoiler") for media in album.params["media"]] == [True, True]
    assert album.params["message_thread_id"] == MODS_TOPIC and text.params["message_thread_id"] == MODS_TOPIC
    assert buttons(text) == ["atelier-mod:ban:7", "atelier-mod:dismiss:7"]
    assert replied_to(text) == album.result[0]["message_id"]  # the buttons follow the images they are about
    assert replied_to(note) == text.result["message_id"] and "Dismissed by Ada" in text_of(note)
    assert tg.fake.calls("editMessageReplyMarkup")[0].ok
    assert (gone, gone_again) == (True, False)  # the album and its buttons went; the note stays
    assert [message["message_id"] for message in tg.fake.sent_messages(FORUM)] == [note.result["message_id"]]


async def test_the_command_menu_offers_mod_to_group_admins_and_in_private_chats_only(tg: RunningBot) -> None:
    def menu(scope: str) -> list[str]:
        return [command["command"] for command in tg.fake.commands(scope={"type": scope})]

    assert "mod" in menu("default") and "mod" in menu("all_chat_administrators")
    assert "mod" not in menu("all_group_chats") and "settings" not in menu("all_group_chats")
    assert "imagine" in menu("all_group_chats")
