"""The bot itself: ``getMe`` and the command menu (``setMyCommands``/``getMyCommands``/``deleteMyCommands``
per scope and language)."""

from __future__ import annotations

import json
import re
from typing import Any

from .models import Call, JSONDict, bad_request
from .state import TelegramState


class CommandsMixin(TelegramState):
    """Bot identity and command lists."""

    _commands: dict[str, list[JSONDict]]  # _commands_key(scope, language) -> commands

    def _get_me(self, _call: Call) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def commands(self, *, scope: JSONDict | None = None, language_code: str = "") -> list[JSONDict]:
        return list(self._commands.get(self._commands_key(scope, language_code), []))

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> str:
        return json.dumps([scope or {"type": "default"}, language_code or ""], sort_keys=True)

    def _set_my_commands(self, call: Call) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for cmd in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", ""))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        self._commands[key] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    def _get_my_commands(self, call: Call) -> list[JSONDict]:
        return self.commands(scope=call.params.get("scope"), language_code=call.params.get("language_code") or "")

    def _delete_my_commands(self, call: Call) -> bool:
        self._commands.pop(self._commands_key(call.params.get("scope"), call.params.get("language_code")), None)
        return True
