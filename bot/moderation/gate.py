"""The moderation checks of the one job path: before anything is charged or sent upstream (access,
blocklists, the moderation model on the text and input images), on each result, and on chat answers.
Everything it decides is written to the audit log, and what moderators should see is posted to the
scope's moderators' channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.clock import Clock
from bot.config import Settings
from bot.lease import WALL
from bot.messages import Request, ResultImage
from bot.moderation.classifier import Classifier, Verdict
from bot.moderation.desks import ModeratorDesks
from bot.moderation.policy import Use
from bot.store import Store


class Outcome(StrEnum):
    SHOW = "show"  # post it as usual
    SPOILER = "spoiler"  # flagged; this scope shows flagged results behind a spoiler
    WITHHOLD = "withhold"  # flagged (or could not be checked, failing closed): not posted
    REVIEW = "review"  # this channel's results go to the moderators first (bot.moderation.review)


@dataclass(frozen=True)
class ResultCheck:
    outcome: Outcome
    verdict: Verdict | None = None
    entry_id: int | None = None  # the audit entry about it
    charge: bool = True  # False: withheld because moderation failed; the job is refunded
    message: str = ""  # what the requester is told when it is not shown


class Moderation:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        classifier: Classifier | None,
        desks: ModeratorDesks,
        clock: Clock = WALL,
    ) -> None:
        self._settings = settings
        self._store = store
        self._classifier = classifier
        self._desks = desks
        self._clock = clock

    async def admit(self, request: Request, use: Use, text: str, images: list[bytes] | None = None) -> str | None:
        """Access policy, blocklists (operator's and scope's), then the moderation model on `text` and
        the input `images`: the refusal to tell the user (already audited) or None."""
        return None

    async def check_result(self, request: Request, job_id: str, prompt: str, images: list[ResultImage]) -> ResultCheck:
        """After the provider answered, before anything is posted."""
        return ResultCheck(Outcome.SHOW)

    async def holds_answers(self, request: Request) -> bool:
        """Whether chat answers here are collected and checked before anything is shown (strictness
        high), instead of streamed and replaced if flagged."""
        return False

    async def check_answer(self, request: Request, question: str, answer: str) -> str | None:
        """A finished chat answer: the notice to show instead of it when flagged, or None to keep it."""
        return None

    async def generated(self, request: Request, job_id: str, prompt: str) -> None:
        """Audit a delivered job."""
