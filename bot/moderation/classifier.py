"""The optional moderation model: an OpenAI-compatible `POST {MODERATION_API_URL}/moderations`, with
text and images, and per-category thresholds chosen by a scope's strictness."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from bot.config import Settings


class Strictness(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ModerationUnavailable(Exception):
    """The moderation service could not give a verdict (down, timed out, refused the key, answered
    nonsense). The message is for logs and never holds a secret."""


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    categories: dict[str, float] = field(default_factory=dict)  # the categories over their threshold: score
    scores: dict[str, float] = field(default_factory=dict)  # every category's score, for the audit log
    model: str = ""

    @property
    def summary(self) -> str:
        """`sexual 0.91, violence 0.62`, for moderators."""
        return ", ".join(f"{name} {score:.2f}" for name, score in self.categories.items())


class Classifier:
    """None of this is built when MODERATION_API_URL is unset (see `from_settings`)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        raise NotImplementedError

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.AsyncClient) -> Classifier | None:
        raise NotImplementedError

    async def check(
        self,
        strictness: Strictness,
        *,
        text: str | None = None,
        images: list[bytes] | None = None,
        allowed: frozenset[str] = frozenset(),
    ) -> Verdict:
        """One verdict for the text and images together (flagged if any input is). `allowed` names
        categories not to flag (an age-restricted channel allowing "sexual"; never "sexual/minors").
        Raises ModerationUnavailable."""
        raise NotImplementedError
