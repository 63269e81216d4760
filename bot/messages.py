"""The neutral vocabulary between adapters and the core: who asked, where, what, and how to answer.

Glossary (the same words in code, settings and messages):
- scope: where quotas and admin settings apply. A *guild* scope is shared by many people: a Discord
  server or a Telegram group ("server/group" in user-facing text; "guild" in setting names such as
  `guild_quota`). A *private* scope is one person's own: a Discord DM, a Telegram private chat, the
  console. Each has a key, `<platform>:<kind>:<id>`.
- user: a person on a platform; `asker` is that person within one scope (what rate limits count).
- conversation: the chat history key an adapter picks: a thread, a reply chain, a private chat.
- command: what someone asked for, typed (bot.command); a request says who, where and with what.
- job: one image generation (imagine, edit, vary, reroll), a stored row that is charged on reserve,
  and committed or refunded when it ends.
- action: a button under a result (reroll, vary, edit, cancel).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum


class ScopeKind(StrEnum):
    GUILD = "guild"  # a Discord server or a Telegram group: shared quota and admin settings
    PRIVATE = "private"  # a DM, a private chat or the console: one person's own scope


@dataclass(frozen=True)
class Scope:
    platform: str
    kind: ScopeKind
    id: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.kind}:{self.id}"


@dataclass(frozen=True)
class User:
    platform: str
    id: str
    name: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass
class Request:
    """One thing a person asked for, already stripped of platform details."""

    user: User
    scope: Scope
    # Conversation history key: a thread, a reply chain, a private chat. Chosen by the adapter.
    conversation: str
    # Raw bytes of images attached to or replied to by the message; the core checks them.
    images: list[bytes] = field(default_factory=list)
    # The adapter vouches that this user administers the scope (checked with the platform).
    is_admin: bool = False
    # For edits on models that take one: white where the image may change.
    mask: bytes | None = None
    # The adapter's opaque JSON naming where this came from (chat, thread, message), stored with a job
    # so that if the process dies the adapter can tell its user after the restart.
    origin: str | None = None
    # Where in the scope, for channel rules (`/mod channel`): a Discord channel id (a thread's parent
    # channel: threads follow their channel), a Telegram forum topic id; "" for a group's one chat.
    channel: str = ""
    # The member's Discord role ids, for `/mod roles` (other platforms have none).
    roles: tuple[str, ...] = ()
    # A Discord age-restricted (NSFW) channel, where a server may allow the sexual category.
    age_restricted: bool = False

    @property
    def asker(self) -> str:
        """This person in this scope: what rate limits count."""
        return f"{self.scope.key}|{self.user.key}"


# The file extension each image type is kept under (result files, conversation images).
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@dataclass
class ResultImage:
    data: bytes
    mime: str
    width: int
    height: int

    @property
    def extension(self) -> str:
        return EXTENSIONS.get(self.mime, "png")


class Action(StrEnum):
    """Buttons shown under a result. Their ids are `atelier:<action>:<job id>`."""

    REROLL = "reroll"
    VARY = "vary"  # Vary (Strong); V1-V4 under a grid (its id is `<job id>-<number>`)
    SUBTLE = "subtle"  # Vary (Subtle)
    PICK = "pick"  # U1-U4 under a grid: post that image alone (its id is `<job id>-<number>`)
    EDIT = "edit"
    CANCEL = "cancel"
    IDEA = "idea"  # under /describe's prompt ideas: imagine one (its id is `<ideas id>-<number>`)
    # Vary (Region): offers the regions below; each then asks for the instruction (on mask-capable models).
    REGION = "region"
    REGION_LEFT = "region_left"
    REGION_RIGHT = "region_right"
    REGION_TOP = "region_top"
    REGION_BOTTOM = "region_bottom"
    REGION_CENTRE = "region_centre"
    ZOOM_2 = "zoom2"  # Zoom Out 2x: outpaint a border around the image shrunk into the centre
    ZOOM_15 = "zoom15"  # Zoom Out 1.5x
    PAN_LEFT = "pan_left"  # Pan: outpaint a third more on that side
    PAN_RIGHT = "pan_right"
    PAN_UP = "pan_up"
    PAN_DOWN = "pan_down"
    CHART = "chart"  # under /usage: the usage chart (its id is `atelier:chart:usage`, no job behind it)


# The regions Vary (Region) offers, each with the part of the image it names (bot.canvas.region_box).
REGION_ACTIONS = {
    Action.REGION_LEFT: "left",
    Action.REGION_RIGHT: "right",
    Action.REGION_TOP: "top",
    Action.REGION_BOTTOM: "bottom",
    Action.REGION_CENTRE: "centre",
}
ZOOM_ACTIONS = {Action.ZOOM_2: 2.0, Action.ZOOM_15: 1.5}
PAN_ACTIONS = {Action.PAN_LEFT: "left", Action.PAN_RIGHT: "right", Action.PAN_UP: "up", Action.PAN_DOWN: "down"}
# Buttons that ask for an instruction before they run (a form on Discord, a ForceReply on Telegram).
NEEDS_INSTRUCTION = frozenset({Action.EDIT, *REGION_ACTIONS})
# The most buttons in one row (Discord's limit); Zoom Out and Pan each start a row of their own.
ROW_WIDTH = 5
_ROW_STARTS = frozenset({Action.ZOOM_2, Action.PAN_LEFT})


@dataclass(frozen=True)
class Button:
    """One button as an adapter draws it: `number` is the image of a grid it acts on (U2, V3)."""

    action: Action
    ref: str  # what its id carries: a job id, or `<job id>-<number>`
    number: int | None = None

    @property
    def id(self) -> str:
        return action_id(self.action, self.ref)

    @property
    def grid_label(self) -> str | None:
        """`U2` or `V3` for a button acting on one image of a grid; None for the others."""
        if self.number is None:
            return None
        return f"{'U' if self.action == Action.PICK else 'V'}{self.number}"


def image_ref(job_id: str, number: int) -> str:
    """One image of a job's grid (1-based), as a button carries it in place of a job id."""
    return f"{job_id}-{number}"


def parse_image_ref(ref: str) -> tuple[str, int | None]:
    """A job id and the image of its grid a button names (None: the whole job, or its only image)."""
    job_id, dash, number = ref.rpartition("-")
    if dash and job_id and number.isdigit() and len(number) == 1:
        return job_id, int(number)
    return ref, None


def action_id(action: Action, job_id: str) -> str:
    return f"atelier:{action}:{job_id}"


def idea_ref(ideas_id: str, number: int) -> str:
    """What an idea's button carries in place of a job id."""
    return f"{ideas_id}-{number}"


def parse_idea_ref(ref: str) -> tuple[str, int] | None:
    ideas_id, _, number = ref.rpartition("-")
    return (ideas_id, int(number)) if ideas_id and number.isdigit() and len(number) <= 2 else None


def parse_action_id(custom_id: str) -> tuple[Action, str] | None:
    parts = custom_id.split(":")
    if len(parts) != 3 or parts[0] != "atelier":
        return None
    try:
        return Action(parts[1]), parts[2]
    except ValueError:
        return None


@dataclass
class Delivery:
    """Finished images, ready to upload, with the buttons that belong under them."""

    job_id: str
    images: list[ResultImage]
    caption: str
    actions: list[Action]
    # A flagged result a server shows behind a spoiler (Discord SPOILER_ attachment, Telegram has_spoiler).
    spoiler: bool = False
    # A grid of this many images (its one image shows them all): a row of U1.. and a row of V1.. buttons.
    picks: int = 0

    def button_rows(self) -> list[list[Button]]:
        """The buttons in rows, as every platform lays them out: U1-U4, then V1-V4, then the rest."""
        rows = []
        if self.picks:
            numbers = range(1, self.picks + 1)
            rows.append([Button(Action.PICK, image_ref(self.job_id, n), n) for n in numbers])
            rows.append([Button(Action.VARY, image_ref(self.job_id, n), n) for n in numbers])
        row: list[Button] = []
        for action in self.actions:
            if row and (action in _ROW_STARTS or len(row) == ROW_WIDTH):
                rows.append(row)
                row = []
            row.append(Button(action, self.job_id))
        return [*rows, row] if row else rows


@dataclass
class Progress:
    job_id: str
    elapsed_seconds: float
    stage: str = "working"
    percent: float | None = None
    queue_position: int | None = None

    def describe(self) -> str:
        parts = [f"🎨 {self.stage.capitalize()}… {int(self.elapsed_seconds)}s"]
        if self.percent is not None:
            parts.append(f"{int(self.percent)}%")
        if self.queue_position:
            parts.append(f"position {self.queue_position} in queue")
        return " · ".join(parts)


class Reply:
    """The port an adapter implements to answer one request. `send_text`, `send_images` and `send_file` must
    be implemented; the others have defaults (errors as text, streams sent whole, progress not shown)."""

    async def ready(self) -> None:
        """Awaited before a provider is called: an adapter still acknowledging the request (Discord's defer,
        begun with the job so its round trip overlaps the job's first steps) waits for it here, and raises
        when it was refused, so nothing is paid for that no one can receive. The default is ready at once."""

    async def send_text(self, text: str) -> None:
        raise NotImplementedError

    async def send_error(self, text: str) -> None:
        """A failure or refusal: ephemeral where the platform allows it."""
        await self.send_text(text)

    async def stream_text(self, chunks: AsyncIterator[str]) -> str:
        """Show text as it arrives (paced as the platform needs) and return all of it."""
        text = "".join([chunk async for chunk in chunks])
        await self.send_text(text)
        return text

    async def send_images(self, delivery: Delivery) -> str | None:
        """Upload the images; returns the adapter's JSON naming the posted message(s), so a moderator's
        Delete can remove them later (see bot.moderation.desk.Desk.delete), or None."""
        raise NotImplementedError

    async def replace_answer(self, text: str) -> None:
        """The answer `stream_text` just showed was flagged by moderation: replace what was posted (every
        message of it) with `text`. The default, for a reply that cannot edit, sends `text`."""
        await self.send_text(text)

    async def send_ideas(self, text: str, ideas_id: str, count: int) -> None:
        """`/describe`'s numbered prompt ideas, with a button per idea carrying action_id(Action.IDEA,
        idea_ref(ideas_id, n)) for n from 1 to `count`. The default, for a reply without buttons, sends the text."""
        await self.send_text(text)

    async def send_buttons(self, text: str, buttons: list[Button]) -> None:
        """Text with a row of buttons (a press carries each Button's id). The default, for a reply without
        buttons, sends the text."""
        await self.send_text(text)

    async def send_file(self, name: str, data: bytes, mime: str, caption: str = "") -> None:
        """A file made for the user (a usage chart, a CSV export), uploaded as `name`. An image is shown as a
        picture where the platform tells the two apart."""
        raise NotImplementedError

    async def show_thinking(self, reasoning: str) -> None:
        """The model is reasoning before it answers (`reasoning`: its latest 1,000 characters), called at most
        about once a second. Show a short, collapsed "Thinking…" line; the answer, when `stream_text` begins,
        takes its place. Never part of the answer. The default shows nothing."""

    async def progress(self, update: Progress) -> None:
        """Called about once a second while a job runs; the adapter decides how often to show it."""

    async def clear_progress(self) -> None:
        """The job ended (result or error is about to be sent): remove any status message."""
