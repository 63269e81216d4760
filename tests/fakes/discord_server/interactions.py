"""How the bot answers interactions: the callback (ack deadline, response types, ``with_response``),
webhook follow-ups (filling a deferred reply) and ``@original``/follow-up message GET/PATCH/DELETE."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .messages import MessagesMixin
from .models import (
    MESSAGE_FLAG_EPHEMERAL,
    MESSAGE_FLAG_LOADING,
    ApiError,
    CallbackType,
    FakeInteraction,
    InteractionType,
    RecordedFile,
    RecordedRequest,
    _form_error,
)


class InteractionsMixin(MessagesMixin):
    """The interaction callback and webhook REST routes."""

    async def _callback(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self.interactions.get(int(rec.params["interaction_id"]))
        if inter is None or inter.token != rec.params["interaction_token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        if time.monotonic() - inter.created > self.interaction_ack_deadline and not inter.acknowledged:
            raise ApiError(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        body = rec.json or {}
        rtype, data = int(body.get("type", 0)), body.get("data") or {}
        self._check_callback_type(inter, rtype, data)
        ephemeral = bool(int(data.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
        message: dict[str, Any] | None = None
        if rtype in (CallbackType.CHANNEL_MESSAGE, CallbackType.DEFERRED_CHANNEL_MESSAGE):
            payload = data if rtype == CallbackType.CHANNEL_MESSAGE else {"flags": MESSAGE_FLAG_LOADING}
            message = self._store(self._interaction_message(inter, payload, rec.files, ephemeral=ephemeral))
            inter.response_type, inter.original_message_id = rtype, int(message["id"])
            rec.message_id, rec.effect = inter.original_message_id, "create"
            await self._announce("MESSAGE_CREATE", message)
        elif rtype in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            source = inter.payload.get("message")
            if source is not None and int(source["id"]) in self.messages:
                message = self.messages[int(source["id"])]
                inter.original_message_id = int(message["id"])
                if rtype == CallbackType.UPDATE_MESSAGE:
                    self._edit(message, data, rec)
                    await self._announce("MESSAGE_UPDATE", message)
        elif rtype == CallbackType.MODAL:
            self.modals.append((inter, data))
        inter.response_type = rtype
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        result: dict[str, Any] = {"interaction": {"id": str(inter.id), "type": inter.type}}
        if message is not None:
            result["interaction"].update(
                response_message_id=message["id"],
                response_message_loading=rtype == CallbackType.DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=bool(message["flags"] & MESSAGE_FLAG_EPHEMERAL),
            )
        result["resource"] = {"type": rtype, **({"message": message} if message is not None else {})}
        return 200, result

    def _check_callback_type(self, inter: FakeInteraction, rtype: int, data: dict[str, Any]) -> None:
        allowed = {
            InteractionType.APPLICATION_COMMAND: {4, 5, 9},
            InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
            InteractionType.AUTOCOMPLETE: {8},
            InteractionType.MODAL_SUBMIT: {4, 5, 6, 7} if "message" in inter.payload else {4, 5},
        }[InteractionType(inter.type)]
        if rtype not in allowed:
            raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID", f"Invalid response type {rtype}")
        if rtype == CallbackType.MODAL:
            if not data.get("custom_id") or not 1 <= len(data.get("title") or "") <= 45:
                raise _form_error("data", "BASE_TYPE_REQUIRED", "Modal needs custom_id and a 1-45 char title")
            if not 1 <= len(data.get("components") or []) <= 5:
                raise _form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")

    def _interaction_message(
        self,
        inter: FakeInteraction,
        payload: dict[str, Any],
        files: Sequence[RecordedFile],
        *,
        ephemeral: bool,
    ) -> dict[str, Any]:
        msg = self._build_message(inter.channel_id, payload, files, ephemeral=ephemeral)
        data = inter.payload.get("data", {})
        user = inter.payload.get("member", {}).get("user") or inter.payload.get("user")
        command_type = data.get("type", 1)
        msg["type"] = {1: 20, 2: 23, 3: 23}.get(command_type, 20) if inter.type == 2 else 0
        msg["webhook_id"] = str(self.application_id)
        msg["application_id"] = str(self.application_id)
        metadata: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": inter.payload.get("authorizing_integration_owners", {}),
        }
        if inter.type == InteractionType.APPLICATION_COMMAND:
            metadata.update(name=data.get("name"), command_type=command_type)
            msg["interaction"] = {"id": str(inter.id), "type": 2, "name": data.get("name"), "user": user}
        if "message" in inter.payload:
            metadata["interacted_message_id"] = inter.payload["message"]["id"]
        if inter.original_message_id is not None:
            metadata["original_response_message_id"] = str(inter.original_message_id)
        msg["interaction_metadata"] = metadata
        return msg

    def expire_interaction_tokens_after(self, seconds: float) -> None:
        """Accept an interaction's token for `seconds` after it was created (Discord: 15 minutes)."""
        self.interaction_token_seconds = seconds
        self._notify()

    def expire_interaction_token(self, interaction: FakeInteraction) -> None:
        """Refuse this interaction's token from now on, as Discord does once it expires."""
        interaction.token_revoked = True
        self._notify()

    def token_expired(self, interaction: FakeInteraction) -> bool:
        age = time.monotonic() - interaction.created
        return interaction.token_revoked or age > self.interaction_token_seconds

    def _webhook_interaction(self, rec: RecordedRequest) -> FakeInteraction:
        inter = self._interaction_by_token(rec.params["webhook_token"])
        if rec.params["webhook_id"] != str(self.application_id) or inter is None or not inter.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        if self.token_expired(inter):  # every use of the token: follow-ups, @original, follow-up messages
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    async def _webhook_execute(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._webhook_interaction(rec)
        payload = rec.json or {}
        original = self.messages.get(inter.original_message_id or 0)
        if original is not None and original["flags"] & MESSAGE_FLAG_LOADING:
            # The first follow-up after a deferred (type 5) response fills the "thinking" message;
            # it keeps the defer's ephemerality whatever flags the follow-up asked for.
            self._edit(original, {k: v for k, v in payload.items() if k != "flags"}, rec)
            msg = original
            inter.followup_ids.append(int(msg["id"]))
            await self._announce("MESSAGE_UPDATE", msg)
        else:
            ephemeral = bool(int(payload.get("flags") or 0) & MESSAGE_FLAG_EPHEMERAL)
            msg = self._store(self._interaction_message(inter, payload, rec.files, ephemeral=ephemeral))
            inter.followup_ids.append(int(msg["id"]))
            rec.message_id, rec.effect = int(msg["id"]), "create"
            await self._announce("MESSAGE_CREATE", msg)
        if rec.query.get("wait") in ("1", "true", "True"):
            return 200, msg
        return 204, None

    async def _webhook_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._webhook_interaction(rec)
        raw_id = rec.params["message_id"]
        mid = inter.original_message_id if raw_id == "@original" else int(raw_id)
        owned = {inter.original_message_id, *inter.followup_ids}
        msg = self.messages.get(mid or 0)
        if msg is None or mid not in owned:
            raise ApiError(404, 10008, "Unknown Message")
        if rec.method == "GET":
            return 200, msg
        if rec.method == "DELETE":
            self._delete(msg, rec)
            await self._announce("MESSAGE_DELETE", msg)
            return 204, None
        self._edit(msg, rec.json or {}, rec)
        await self._announce("MESSAGE_UPDATE", msg)
        return 200, msg
