"""Matrix has no buttons: the bot offers reactions on its results (and on a running job's notice), and a
person's reaction with the same key presses that button. The job is found through the store's link
from the reacted-to event, so a reaction works after a restart too."""

from __future__ import annotations

from bot.messages import Action

REACTIONS = {Action.REROLL: "🔁", Action.VARY: "🎨", Action.EDIT: "✏️", Action.CANCEL: "✖️"}
_BY_KEY = {key.replace("\ufe0f", ""): action for action, key in REACTIONS.items()}
# Offered under a result, in this order (Cancel goes on the running job's notice instead).
RESULT_ACTIONS = (Action.REROLL, Action.VARY, Action.EDIT)
# Under a grid: U1-U4, each posting that image alone (with its own 🎨 and ✏️: V1-V4 are a pick, then Vary).
PICK_KEYS = ("1️⃣", "2️⃣", "3️⃣", "4️⃣")
_PICKS = {key.replace("\ufe0f", ""): number for number, key in enumerate(PICK_KEYS, 1)}


def action_of(key: str) -> Action | None:
    """The button a reaction key presses; clients may or may not add the emoji variation selector."""
    return _BY_KEY.get(key.replace("\ufe0f", ""), Action.PICK if pick_of(key) else None)


def pick_of(key: str) -> int | None:
    """The image of a grid a number reaction picks (1-4), or None."""
    return _PICKS.get(key.replace("\ufe0f", ""))
