"""Buttons and forms. Result buttons carry `atelier:<action>:<job id>` in their custom_id and are
registered as a DynamicItem at startup, so a click works on any message, even after a restart: the job
is read from the database. Moderators' buttons (`atelier-mod:<verb>:<item id>`) work the same way, the
item read from the database. Forms (modals) carry their target in their custom_id for the same reason."""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

import discord

from adapters.discord.inflight import turned_away
from bot.messages import REGION_ACTIONS, Action, Button, Delivery, action_id, idea_ref
from bot.moderation.desk import BUTTON_PREFIX, ModVerb, mod_button_id

log = logging.getLogger(__name__)

INSTRUCTION_INPUT = "instruction"
FORM_PREFIX = "atelier-form"

_LABELS = {
    Action.REROLL: ("Reroll", "🎲", discord.ButtonStyle.secondary),
    Action.VARY: ("Vary (Strong)", "🔀", discord.ButtonStyle.secondary),
    Action.SUBTLE: ("Vary (Subtle)", "🌀", discord.ButtonStyle.secondary),
    Action.PICK: ("U", "", discord.ButtonStyle.secondary),
    Action.EDIT: ("Edit", "✏️", discord.ButtonStyle.primary),
    Action.CANCEL: ("Cancel", "✖️", discord.ButtonStyle.danger),
    Action.IDEA: ("Imagine", "🎨", discord.ButtonStyle.secondary),
    Action.REGION: ("Vary (Region)", "🖌️", discord.ButtonStyle.secondary),
    Action.REGION_LEFT: ("Left half", "⬅️", discord.ButtonStyle.secondary),
    Action.REGION_RIGHT: ("Right half", "➡️", discord.ButtonStyle.secondary),
    Action.REGION_TOP: ("Top half", "⬆️", discord.ButtonStyle.secondary),
    Action.REGION_BOTTOM: ("Bottom half", "⬇️", discord.ButtonStyle.secondary),
    Action.REGION_CENTRE: ("Centre", "⏺️", discord.ButtonStyle.secondary),
    Action.ZOOM_2: ("Zoom Out 2x", "🔍", discord.ButtonStyle.secondary),
    Action.ZOOM_15: ("Zoom Out 1.5x", "🔍", discord.ButtonStyle.secondary),
    Action.PAN_LEFT: ("", "⬅️", discord.ButtonStyle.secondary),
    Action.PAN_RIGHT: ("", "➡️", discord.ButtonStyle.secondary),
    Action.PAN_UP: ("", "⬆️", discord.ButtonStyle.secondary),
    Action.PAN_DOWN: ("", "⬇️", discord.ButtonStyle.secondary),
    Action.CHART: ("Chart (30 days)", "📊", discord.ButtonStyle.secondary),
}
# What each instruction form asks: the Edit button's, and each region of Vary (Region)'s.
_FORM_TITLES = {Action.EDIT: "Edit image"} | {
    action: f"Vary (Region): {where}" for action, where in REGION_ACTIONS.items()
}


class ActionHandler(Protocol):
    async def on_action(self, interaction: discord.Interaction, action: Action, job_id: str) -> None: ...


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=rf"atelier:(?P<action>{'|'.join(Action)}):(?P<job>[A-Za-z0-9_-]{{1,64}})",
):
    def __init__(self, action: Action, job_id: str, grid_label: str | None = None, row: int | None = None) -> None:
        label, emoji, style = _LABELS[action]
        if action == Action.IDEA:  # one per prompt idea: "Imagine 2"
            label = f"{label} {job_id.rpartition('-')[2]}"
        elif grid_label is not None:  # one per image of a grid: U1-U4, V1-V4
            label, emoji = grid_label, ""
        super().__init__(_button((label, emoji, style), action_id(action, job_id), row))
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ActionButton:
        return cls(Action(match["action"]), match["job"])

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ActionHandler | None = await _handler(interaction, f"button {self.action}")
        if handler is not None:
            await handler.on_action(interaction, self.action, self.job_id)


class ModHandler(Protocol):
    async def on_mod(self, interaction: discord.Interaction, verb: ModVerb, item_id: int) -> None: ...


_MOD_LABELS = {
    ModVerb.DELETE: ("Delete", "🗑️", discord.ButtonStyle.danger),
    ModVerb.BAN: ("Ban user", "⛔", discord.ButtonStyle.danger),
    ModVerb.DISMISS: ("Dismiss", "👌", discord.ButtonStyle.secondary),
    ModVerb.APPROVE: ("Approve", "✅", discord.ButtonStyle.success),
    ModVerb.REJECT: ("Reject", "❌", discord.ButtonStyle.danger),
}


class ModButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=rf"{BUTTON_PREFIX}:(?P<verb>{'|'.join(ModVerb)}):(?P<item>[0-9]{{1,19}})",
):
    """A button in the moderators' channel: like result buttons, found by custom_id after a restart."""

    def __init__(self, verb: ModVerb, item_id: int) -> None:
        super().__init__(_button(_MOD_LABELS[verb], mod_button_id(verb, item_id)))
        self.verb = verb
        self.item_id = item_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ModButton:
        return cls(ModVerb(match["verb"]), int(match["item"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        handler: ModHandler | None = await _handler(interaction, f"moderation button {self.verb}")
        if handler is not None:
            await handler.on_mod(interaction, self.verb, self.item_id)


def _button(look: tuple[str, str, discord.ButtonStyle], custom_id: str, row: int | None = None) -> discord.ui.Button:
    label, emoji, style = look
    return discord.ui.Button(label=label or None, emoji=emoji or None, style=style, custom_id=custom_id, row=row)


async def _handler(interaction: discord.Interaction, what: str) -> Any:
    """Who handles a click (ActionHandler, ModHandler): None while the bot is stopping, or (logged)
    when none is registered."""
    if await turned_away(interaction):
        return None
    handler = getattr(interaction.client, "atelier_actions", None)
    if handler is None:
        log.warning("%s clicked but no handler is registered", what)
    return handler


def mod_view(verbs: list[ModVerb], item_id: int) -> discord.ui.View | None:
    if not verbs:
        return None
    view = discord.ui.View(timeout=None)
    for verb in verbs:
        view.add_item(ModButton(verb, item_id))
    return view


def buttons_view(actions: list[Action], job_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(ActionButton(action, job_id))
    return view


def result_view(delivery: Delivery) -> discord.ui.View:
    """A result's buttons in their rows: U1-U4 and V1-V4 under a grid, then Reroll, Vary, Edit."""
    view = discord.ui.View(timeout=None)
    for row, buttons in enumerate(delivery.button_rows()):
        for button in buttons:
            view.add_item(ActionButton(button.action, button.ref, button.grid_label, row))
    return view


def ideas_view(ideas_id: str, count: int) -> discord.ui.View:
    """A button per `/describe` prompt idea."""
    view = discord.ui.View(timeout=None)
    for number in range(1, count + 1):
        view.add_item(ActionButton(Action.IDEA, idea_ref(ideas_id, number)))
    return view


def choices_view(buttons: list[Button]) -> discord.ui.View:
    """A row of buttons under a text (Reply.send_buttons), each carrying its own ref."""
    view = discord.ui.View(timeout=None)
    for button in buttons:
        view.add_item(ActionButton(button.action, button.ref))
    return view


def status_view(job_id: str) -> discord.ui.View:
    return buttons_view([Action.CANCEL], job_id)


# ------------------------------------------------------------------------------------------ forms


def form_id(kind: str, *parts: int | str) -> str:
    """`atelier-form:edit:<channel>:<message>`, `atelier-form:ask:<channel>:<message>`, `atelier-form:job:<job>`."""
    return ":".join([FORM_PREFIX, kind, *map(str, parts)])


def parse_form_id(custom_id: str) -> tuple[str, list[str]] | None:
    parts = custom_id.split(":")
    if len(parts) < 3 or parts[0] != FORM_PREFIX:
        return None
    return parts[1], parts[2:]


def instruction_form(action: Action, job_ref: str) -> InstructionForm:
    """The form an Edit or a region of Vary (Region) opens: `atelier-form:job:<ref>` for Edit (as forms
    opened before regions existed carry), `atelier-form:job:<ref>:<action>` for a region."""
    custom_id = form_id("job", job_ref) if action == Action.EDIT else form_id("job", job_ref, action)
    return InstructionForm(custom_id, _FORM_TITLES[action], "What should change?", "e.g. at night")


def parse_form_action(word: str) -> Action | None:
    """The action a job form's custom_id names, if it is one that takes an instruction."""
    try:
        action = Action(word)
    except ValueError:
        return None
    return action if action in _FORM_TITLES else None


class InstructionForm(discord.ui.Modal):
    """One text box. Submissions are handled from `on_interaction` by custom_id (see interactions.py),
    so a form opened before a restart still works."""

    def __init__(self, custom_id: str, title: str, label: str, placeholder: str, *, required: bool = True) -> None:
        super().__init__(title=title[:45], custom_id=custom_id, timeout=900)
        self.add_item(
            discord.ui.TextInput(
                label=label[:45],
                custom_id=INSTRUCTION_INPUT,
                placeholder=placeholder[:100],
                style=discord.TextStyle.paragraph,
                required=required,
                max_length=1000,
            )
        )


def submitted_text(data: dict[str, Any] | None, input_id: str = INSTRUCTION_INPUT) -> str:
    """The value of one text input in a MODAL_SUBMIT payload (action rows or labels)."""

    def walk(components: list[dict[str, Any]]) -> str | None:
        for component in components:
            if component.get("custom_id") == input_id and "value" in component:
                return str(component["value"])
            nested = list(component.get("components") or [])
            if "component" in component:
                nested.append(component["component"])
            found = walk(nested)
            if found is not None:
                return found
        return None

    return (walk(list((data or {}).get("components") or [])) or "").strip()
