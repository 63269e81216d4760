"""Chats and chat members: ``getChat``, ``getChatMember`` with configurable statuses (creator, administrator,
member, restricted, left, kicked) and their rights."""

from __future__ import annotations

from typing import Any

from .models import Call, JSONDict
from .state import TelegramState


class MembersMixin(TelegramState):
    """Configure and answer chat/member lookups."""

    _members: dict[tuple[int, int], JSONDict]  # (chat_id, user_id) -> status + extra fields

    def set_chat_member(self, chat_id: int, user_id: int, status: str, **extra: Any) -> None:
        """Configure getChatMember: creator | administrator | member | restricted | left | kicked."""
        self._members[(chat_id, user_id)] = {"status": status, **extra}

    def _get_chat_member(self, call: Call) -> JSONDict:
        chat = self._chat(call.params)
        user_id = int(call.params.get("user_id") or 0)
        user = self.bot_user if user_id == self.bot_id else self._users.get(user_id) or self.add_user(user_id)
        config = dict(self._members.get((chat["id"], user_id), {"status": "member"}))
        return _chat_member(config.pop("status"), user, config)

    def _get_chat(self, call: Call) -> JSONDict:
        chat = self._chat(call.params)
        gifts = {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        }
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}


def _chat_member(status: str, user: JSONDict, extra: JSONDict) -> JSONDict:
    member: JSONDict = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update({"can_be_edited": False, "is_anonymous": False, **dict.fromkeys(_ADMIN_RIGHTS, True)})
    elif status == "restricted":
        member.update({"is_member": True, "until_date": 0, **dict.fromkeys(_RESTRICTED_RIGHTS, False)})
    elif status == "kicked":
        member["until_date"] = 0
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    member.update(extra)
    return member


_ADMIN_RIGHTS: tuple[str, ...] = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_pin_messages",
)


_RESTRICTED_RIGHTS: tuple[str, ...] = (
    "can_send_messages",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_manage_topics",
)
