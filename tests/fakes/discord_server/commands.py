"""Application commands: the sync REST routes (validation, stable ids), and invoking commands as a user:
slash commands with typed/resolved options, subcommands, autocomplete and context menus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .models import ApiError, FakeInteraction, InteractionType, RecordedRequest, _form_error, _sid
from .user_actions import UserActionsMixin


class CommandsMixin(UserActionsMixin):
    """Command registration and ``dispatch_slash_command`` / ``dispatch_*_command``."""

    def commands_for(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return list(self.commands.get(guild_id, {}).values())

    async def _get_commands(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._check_app(rec.params["application_id"])
        return 200, self.commands_for(_sid(rec.params.get("guild_id")))

    async def _put_commands(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._check_app(rec.params["application_id"])
        gid = _sid(rec.params.get("guild_id"))
        if gid is not None and gid not in self.guilds:
            raise ApiError(403, 50001, "Missing Access")
        old = self.commands.get(gid, {})
        new: dict[tuple[str, int], dict[str, Any]] = {}
        for index, cmd in enumerate(rec.json or []):
            ctype = cmd.get("type", 1)
            key = (cmd["name"], ctype)
            if key in new:
                raise _form_error(f"{index}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME", "duplicate name")
            if ctype == 1 and not 1 <= len(cmd.get("description", "")) <= 100:
                raise _form_error(f"{index}.description", "BASE_TYPE_BAD_LENGTH", "Must be 1-100 characters.")
            previous = old.get(key)
            echoed = {
                "id": previous["id"] if previous else str(self.snowflake()),
                "application_id": str(self.application_id),
                "version": str(self.snowflake()),
                "type": ctype,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                "dm_permission": True,
                **cmd,
            }
            if gid is not None:
                echoed["guild_id"] = str(gid)
            new[key] = echoed
        self.commands[gid] = new
        return 200, list(new.values())

    def _check_app(self, application_id: str) -> None:
        if application_id != str(self.application_id):
            raise ApiError(403, 50001, "Missing Access")

    def _find_command(self, name: str, ctype: int, guild_id: int | None) -> dict[str, Any] | None:
        for scope in (guild_id, None) if guild_id is not None else (None,):
            found = self.commands.get(scope, {}).get((name, ctype))
            if found is not None:
                return found
        if self.strict_commands:
            raise LookupError(f"command {name!r} (type {ctype}) is not registered for guild {guild_id}")
        return None

    def _command_data(self, name: str, ctype: int, guild_id: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        schema = self._find_command(name, ctype, guild_id)
        data: dict[str, Any] = {
            "id": schema["id"] if schema else str(self.snowflake()),
            "name": name,
            "type": ctype,
        }
        if schema is not None and "guild_id" in schema:
            data["guild_id"] = schema["guild_id"]
        return data, schema or {}

    async def dispatch_slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[dict[str, Any]] | None = None,
        *,
        user: dict[str, Any] | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
        dm: bool = False,
        focused: str | None = None,
    ) -> FakeInteraction:
        """Dispatch a CHAT_INPUT interaction. ``name`` may be "group sub" for subcommands.

        ``options`` is either raw Discord option dicts or ``{name: value}``; types come from the
        synced command schema when known (attachments: pass the dict from ``add_attachment``;
        users/channels/roles: pass the object or its id). ``focused`` makes it an AUTOCOMPLETE.
        """
        root, *path = name.split()
        gid = None if dm else (guild_id or self._resolve_location(None, channel_id, user or self.user, False)[0])
        data, schema = self._command_data(root, 1, gid)
        resolved: dict[str, dict[str, Any]] = {}
        if options is None or isinstance(options, Mapping):
            built = self._build_options(schema, path, dict(options or {}), resolved, gid, focused)
        else:
            built = list(options)
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        itype = InteractionType.AUTOCOMPLETE if focused else InteractionType.APPLICATION_COMMAND
        payload = self._interaction_payload(
            itype,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            member_permissions=member_permissions,
            locale=locale,
            dm=dm,
        )
        return await self._dispatch_interaction(payload)

    def _build_options(
        self,
        schema: dict[str, Any],
        path: list[str],
        values: dict[str, Any],
        resolved: dict[str, dict[str, Any]],
        guild_id: int | None,
        focused: str | None,
    ) -> list[dict[str, Any]]:
        level = schema.get("options") or []
        wrappers: list[dict[str, Any]] = []
        for sub in path:
            spec = next((o for o in level if o["name"] == sub), None)
            wrappers.append({"type": spec["type"] if spec else (2 if sub != path[-1] else 1), "name": sub})
            level = (spec or {}).get("options") or []
        specs = {o["name"]: o for o in level}
        if specs:
            unknown = set(values) - set(specs)
            missing = {n for n, o in specs.items() if o.get("required") and n not in values and n != focused}
            if unknown or missing:
                raise ValueError(f"options do not match the synced schema: unknown={unknown}, missing={missing}")
        built = []
        for opt_name, value in values.items():
            otype = specs.get(opt_name, {}).get("type") or _infer_option_type(value)
            option = {
                "name": opt_name,
                "type": otype,
                "value": self._resolve_option(otype, value, resolved, guild_id),
            }
            if opt_name == focused:
                option["focused"] = True
            built.append(option)
        for wrapper in reversed(wrappers):
            wrapper["options"] = built
            built = [wrapper]
        return built

    def _resolve_option(self, otype: int, value: Any, resolved: dict[str, dict[str, Any]], gid: int | None) -> Any:
        if otype == 11:  # attachment
            resolved.setdefault("attachments", {})[value["id"]] = value
            return value["id"]
        if otype not in (6, 7, 8, 9):
            return value
        is_user = value.get("username") is not None if isinstance(value, dict) else int(value) in self.users
        if otype in (6, 9) and is_user:
            user = value if isinstance(value, dict) else self.users[int(value)]
            resolved.setdefault("users", {})[user["id"]] = user
            if gid is not None and int(user["id"]) in self.members[gid]:
                member = self._member_payload(gid, int(user["id"]), with_user=False)
                member["permissions"] = str(self.permissions_for(int(user["id"]), self.text_channels(gid)[0]))
                resolved.setdefault("members", {})[user["id"]] = member
            return user["id"]
        if otype in (8, 9):  # role
            role = value if isinstance(value, dict) else self.roles[gid or 0][int(value)]
            resolved.setdefault("roles", {})[role["id"]] = role
            return role["id"]
        if otype == 7:  # channel
            channel = value if isinstance(value, dict) else self.channels[int(value)]
            partial = {k: channel[k] for k in ("id", "name", "type", "parent_id", "thread_metadata") if k in channel}
            partial["permissions"] = str(self.permissions_for(int(self.user["id"]), int(channel["id"])))
            resolved.setdefault("channels", {})[channel["id"]] = partial
            return channel["id"]
        return value

    async def dispatch_user_command(
        self, name: str, target: dict[str, Any], *, user: dict[str, Any] | None = None, **kwargs: Any
    ) -> FakeInteraction:
        """USER context-menu command (data.type 2) targeting ``target``."""
        return await self._dispatch_context_menu(name, 2, target, user=user, **kwargs)

    async def dispatch_message_command(
        self, name: str, target: dict[str, Any] | int, *, user: dict[str, Any] | None = None, **kwargs: Any
    ) -> FakeInteraction:
        """MESSAGE context-menu command (data.type 3) with ``target_id`` and ``resolved.messages``."""
        msg = target if isinstance(target, dict) else self.messages[int(target)]
        kwargs.setdefault("channel_id", int(msg["channel_id"]))
        return await self._dispatch_context_menu(name, 3, msg, user=user, **kwargs)

    async def _dispatch_context_menu(
        self,
        name: str,
        ctype: int,
        target: dict[str, Any],
        *,
        user: dict[str, Any] | None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        member_permissions: int | None = None,
        locale: str = "en-US",
    ) -> FakeInteraction:
        gid = self._resolve_location(guild_id, channel_id, user or self.user, False)[0]
        data, _ = self._command_data(name, ctype, gid)
        data["target_id"] = target["id"]
        resolved: dict[str, dict[str, Any]] = {}
        if ctype == 3:
            resolved["messages"] = {target["id"]: self._gateway_message(target)}
        else:
            self._resolve_option(6, target, resolved, gid)
        data["resolved"] = resolved
        payload = self._interaction_payload(
            InteractionType.APPLICATION_COMMAND,
            data,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            member_permissions=member_permissions,
            locale=locale,
        )
        return await self._dispatch_interaction(payload)


def _infer_option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, dict) and "filename" in value:
        return 11
    if isinstance(value, dict) and "username" in value:
        return 6
    return 3
