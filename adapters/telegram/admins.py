"""Is this user an administrator of this group? Asked with getChatMember, remembered briefly."""

from __future__ import annotations

import logging
import time

from telegram import Bot
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000


class AdminCache:
    def __init__(self, bot: Bot, ttl_seconds: float) -> None:
        self._bot = bot
        self._ttl = ttl_seconds
        self._known: dict[tuple[int, int], tuple[float, bool]] = {}

    async def is_admin(self, chat_id: int, user_id: int) -> bool:
        now = time.monotonic()
        cached = self._known.get((chat_id, user_id))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            member = await self._bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.info("telegram: getChatMember failed: %s", type(exc).__name__)
            return False  # not cached: ask again next time
        admin = member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR)
        if len(self._known) >= MAX_ENTRIES:
            self._known = {key: value for key, value in self._known.items() if value[0] > now}
        self._known[(chat_id, user_id)] = (now + self._ttl, admin)
        return admin
