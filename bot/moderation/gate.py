"""The moderation checks of the one job path: before anything is charged or sent upstream (access,
blocklists, the moderation model on the text and input images), on each result, and on chat answers.
Everything it decides is written to the audit log, and what moderators should see is posted to the
scope's moderators' channel."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from bot.clock import Clock
from bot.config import Settings
from bot.lease import WALL
from bot.messages import Request, ResultImage
from bot.metrics import Metrics
from bot.moderation.classifier import Classifier, ModerationUnavailable, Strictness, Verdict
from bot.moderation.desk import DeskItem, ModVerb
from bot.moderation.desks import ModeratorDesks, where
from bot.moderation.policy import NSFW, OUTPUT, STRICTNESS, Use, access_refusal
from bot.moderation.text import Blocklist, operator_terms
from bot.store import Store
from bot.store.moderation import AuditEvent

log = logging.getLogger(__name__)

# What users are told. A refusal never repeats the term that matched: that would teach the evasion.
BLOCKED = {
    Use.IMAGES: "I can't make that: it contains a term blocked here. Nothing was charged; please reword it.",
    Use.CHAT: "I can't answer that: it contains a term blocked here. Please reword it.",
}
FLAGGED = {
    Use.IMAGES: "I can't make that: moderation flagged it ({why}). Nothing was charged.",
    Use.CHAT: "I can't answer that: moderation flagged it ({why}).",
}
UNAVAILABLE = {
    Use.IMAGES: "Moderation is unavailable right now, so I can't take requests here; nothing was charged. "
    "Please try again in a minute.",
    Use.CHAT: "Moderation is unavailable right now, so I can't answer here. Please try again in a minute.",
}
WITHHELD = "Your image was held back by this server's moderation (it was made, so it counts toward your quota)."
RESULT_UNCHECKED = (
    "Your image was made, but moderation is unavailable right now, so it can't be shown; nothing was charged. "
    "Please try again in a minute."
)
ANSWER_HIDDEN = "⚠️ This answer was hidden by moderation here."
ANSWER_UNCHECKED = "⚠️ Moderation is unavailable right now, so this answer can't be shown. Please try again in a minute."

TRIMMED_CHARS = 300  # of a refused text, in the audit log and the moderators' channel
SEXUAL = "sexual"


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
        *,
        metrics: Metrics,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._store = store
        self._classifier = classifier
        self._desks = desks
        self._clock = clock
        terms = operator_terms(settings.moderation_blocklist)
        # Built once, at start (the settings already refused a term that cannot be used).
        self._operator = Blocklist.of(terms) if terms else None
        self._scope_lists: dict[str, tuple[tuple[str, ...], Blocklist]] = {}

    # ------------------------------------------------------------------------- requests

    async def admit(
        self, request: Request, use: Use, text: str, images: list[bytes] | None = None, *, listed_only: str = ""
    ) -> str | None:
        """Access policy, blocklists (operator's and scope's), then the moderation model on `text` and
        the input `images`: the refusal to tell the user (already audited) or None. `listed_only` is more
        of the user's text that the blocklists check but the model does not (a negative prompt)."""
        return await self.access(request, use) or await self.screen(request, use, text, images, listed_only=listed_only)

    async def access(self, request: Request, use: Use) -> str | None:
        """Only the access policy (bans, channel rules, roles, private chats): checked before anything else."""
        policy = await self._store.moderation.policy(request.scope.key)
        now = self._clock.now()
        refusal = access_refusal(policy, request, use, now=now, allow_private=self._settings.allow_private_chats)
        if refusal is not None:
            await self._record(request, AuditEvent.REFUSED, {"rule": "access", "use": use, "reason": refusal})
        return refusal

    async def screen(
        self, request: Request, use: Use, text: str, images: list[bytes] | None = None, *, listed_only: str = ""
    ) -> str | None:
        """The blocklists, then the model: what `admit` does after the access policy."""
        listed = await self._listed(request.scope.key, "\n".join(filter(None, [text, listed_only])))
        if listed is not None:
            rule, why = listed
            detail = {"rule": rule, "use": use, "text": _trim(text, listed_only)}
            self._metrics.moderation(use, "blocked")
            await self._alert(request, AuditEvent.REFUSED, detail, f"Refused ({use}): {why}", text, [])
            return BLOCKED[use]
        if self._classifier is None:
            return None
        try:
            verdict = await self._verdict(use, request, text=text or None, images=images or None)
        except ModerationUnavailable as exc:
            return await self._unavailable(request, use, exc, text)
        if not verdict.flagged:
            return None
        detail = {"rule": "model", "use": use, "text": _trim(text), **_scores(verdict)}
        await self._alert(request, AuditEvent.REFUSED, detail, f"Refused ({use}): flagged {verdict.summary}", text, [])
        return FLAGGED[use].format(why=", ".join(verdict.categories) or "flagged")

    async def _listed(self, scope_key: str, text: str) -> tuple[str, str] | None:
        """The rule a blocklist matched and why, for moderators; the operator's terms are not shown to them."""
        if not text:
            return None
        if self._operator is not None and self._operator.match(text) is not None:
            return "blocklist", "a term on the operator's blocklist"
        own = await self._scope_list(scope_key)
        term = own.match(text) if own is not None else None
        if term is None:
            return None
        return f"blocklist:{term}", f"blocked term “{term}”"

    async def _scope_list(self, scope_key: str) -> Blocklist | None:
        terms = (await self._store.moderation.policy(scope_key)).terms
        if not terms:
            self._scope_lists.pop(scope_key, None)
            return None
        cached = self._scope_lists.get(scope_key)
        if cached is None or cached[0] != terms:
            cached = self._scope_lists[scope_key] = (terms, Blocklist.of(terms))
        return cached[1]

    async def _unavailable(self, request: Request, use: Use, exc: ModerationUnavailable, text: str) -> str | None:
        log.warning("moderation unavailable (%s, failing %s): %s", use, self._settings.moderation_on_failure, exc)
        if self._failing_open:
            await self._record(request, AuditEvent.UNCHECKED, {"use": use, "text": _trim(text), "error": str(exc)})
            return None
        detail = {"rule": "unavailable", "use": use, "text": _trim(text), "error": str(exc)}
        await self._record(request, AuditEvent.REFUSED, detail)
        return UNAVAILABLE[use]

    # -------------------------------------------------------------------------- results

    async def check_result(self, request: Request, job_id: str, prompt: str, images: list[ResultImage]) -> ResultCheck:
        """After the provider answered, before anything is posted."""
        policy = await self._store.moderation.policy(request.scope.key)
        reviewed = request.channel in policy.reviewed_channels
        verdict = None
        if self._classifier is not None:
            try:
                verdict = await self._verdict("result", request, images=[image.data for image in images])
            except ModerationUnavailable as exc:
                log.warning("moderation unavailable on job %s's result: %s", job_id, exc)
                detail = {"rule": "unavailable", "prompt": _trim(prompt), "error": str(exc)}
                if not self._failing_open:
                    entry = await self._record(request, AuditEvent.WITHHELD, detail, job_id)
                    return ResultCheck(Outcome.WITHHOLD, None, entry, charge=False, message=RESULT_UNCHECKED)
                await self._record(request, AuditEvent.UNCHECKED, detail, job_id)
        if verdict is not None and verdict.flagged:
            detail = {"rule": "model", "prompt": _trim(prompt), **_scores(verdict)}
            # Behind a spoiler only where the scope chose it and the channel is not under review.
            if not reviewed and await self._output(request.scope.key) == "spoiler":
                why = f"Posted behind a spoiler: flagged {verdict.summary}"
                entry = await self._alert(
                    request, AuditEvent.SPOILERED, detail, why, prompt, images, job_id, spoilered=True
                )
                return ResultCheck(Outcome.SPOILER, verdict, entry)
            why = f"Withheld (not posted): flagged {verdict.summary}"
            entry = await self._alert(request, AuditEvent.WITHHELD, detail, why, prompt, images, job_id)
            return ResultCheck(Outcome.WITHHOLD, verdict, entry, message=WITHHELD)
        if reviewed:
            return ResultCheck(Outcome.REVIEW, verdict)
        return ResultCheck(Outcome.SHOW, verdict)

    async def generated(self, request: Request, job_id: str, prompt: str, verdict: Verdict | None = None) -> None:
        """Audit a delivered job (with the model's verdict on its result, when one was asked)."""
        detail: dict = {"prompt": _trim(prompt)}
        if verdict is not None:
            detail |= _scores(verdict)
        await self._record(request, AuditEvent.GENERATED, detail, job_id)

    async def held(self, request: Request, job_id: str, prompt: str) -> None:
        """Audit a result sent to the review queue."""
        await self._record(request, AuditEvent.HELD, {"prompt": _trim(prompt)}, job_id)

    async def unreviewed(self, request: Request, job_id: str, prompt: str) -> str:
        """A result of a reviewed channel that could not be queued (no moderators' channel): withheld."""
        detail = {"rule": "review", "prompt": _trim(prompt), "reason": "no moderators' channel to review it"}
        await self._record(request, AuditEvent.WITHHELD, detail, job_id)
        return WITHHELD

    async def refused(self, request: Request, rule: str, reason: str) -> None:
        """Audit a refusal decided elsewhere in the job path (rate, quota) that the user was told."""
        await self._record(request, AuditEvent.REFUSED, {"rule": rule, "reason": reason})

    # --------------------------------------------------------------------------- answers

    async def holds_answers(self, request: Request) -> bool:
        """Whether chat answers here are collected and checked before anything is shown (strictness
        high), instead of streamed and replaced if flagged."""
        return self._classifier is not None and await self.strictness(request.scope.key) is Strictness.HIGH

    async def check_answer(self, request: Request, question: str, answer: str) -> str | None:
        """A finished chat answer: the notice to show instead of it when flagged, or None to keep it."""
        if self._classifier is None or not answer.strip():
            return None
        try:
            verdict = await self._verdict("answer", request, text=answer)
        except ModerationUnavailable as exc:
            log.warning("moderation unavailable on a chat answer: %s", exc)
            detail = {"rule": "unavailable", "question": _trim(question), "error": str(exc)}
            if self._failing_open:
                await self._record(request, AuditEvent.UNCHECKED, detail)
                return None
            await self._record(request, AuditEvent.ANSWER_REPLACED, detail)
            return ANSWER_UNCHECKED
        if not verdict.flagged:
            return None
        detail = {"rule": "model", "question": _trim(question), "answer": _trim(answer), **_scores(verdict)}
        why = f"Chat answer hidden: flagged {verdict.summary}"
        await self._alert(request, AuditEvent.ANSWER_REPLACED, detail, why, f"{question}\n→ {answer}", [])
        return ANSWER_HIDDEN

    # --------------------------------------------------------------------------- helpers

    async def _verdict(
        self, check: str, request: Request, *, text: str | None = None, images: list[bytes] | None = None
    ) -> Verdict:
        """The moderation model's verdict at the scope's strictness, counted in the metrics (`check`: images
        or chat for a request, result, answer). Raises ModerationUnavailable."""
        assert self._classifier is not None
        strictness, allowed = await self.strictness(request.scope.key), await self._allowed(request)
        try:
            verdict = await self._classifier.check(strictness, text=text, images=images, allowed=allowed)
        except ModerationUnavailable:
            self._metrics.moderation(check, "unavailable")
            raise
        self._metrics.moderation(check, "flagged" if verdict.flagged else "clean")
        return verdict

    async def strictness(self, scope_key: str) -> Strictness:
        chosen = (await self._store.settings.all(scope_key)).get(STRICTNESS, "")
        try:
            return Strictness(chosen)
        except ValueError:
            return Strictness(self._settings.moderation_strictness)

    async def _output(self, scope_key: str) -> str:
        chosen = (await self._store.settings.all(scope_key)).get(OUTPUT, "")
        return chosen if chosen in ("withhold", "spoiler") else self._settings.moderation_output

    async def _allowed(self, request: Request) -> frozenset[str]:
        """An age-restricted channel of a scope that turned nsfw on may show the sexual category (never
        sexual/minors: the classifier refuses to allow that one)."""
        if request.age_restricted and (await self._store.settings.all(request.scope.key)).get(NSFW) == "on":
            return frozenset({SEXUAL})
        return frozenset()

    @property
    def _failing_open(self) -> bool:
        return self._settings.moderation_on_failure == "open"

    async def _record(self, request: Request, event: AuditEvent, detail: dict, job_id: str | None = None) -> int:
        return await self._store.moderation.record(
            request.scope.key,
            event,
            user_key=request.user.key,
            user_name=request.user.name,
            at=self._clock.now(),
            job_id=job_id,
            detail={"channel": request.channel, **detail},
        )

    async def _alert(
        self,
        request: Request,
        event: AuditEvent,
        detail: dict,
        why: str,
        text: str,
        images: list[ResultImage],
        job_id: str | None = None,
        *,
        spoilered: bool = False,
    ) -> int:
        """Audit, then show the moderators (when the scope has a moderators' channel)."""
        entry = await self._record(request, event, detail, job_id)
        buttons = [ModVerb.DELETE, ModVerb.BAN, ModVerb.DISMISS] if spoilered else [ModVerb.BAN, ModVerb.DISMISS]
        said = f"{request.user.name} ({request.user.key}) in {where(request)}\n“{_trim(text)}”\n{why}"
        item = DeskItem("alert", entry, said, list(images), buttons)
        ref = await self._desks.post(request.scope.platform, request.scope.key, item)
        if ref is not None:
            await self._store.moderation.note_desk_ref(entry, ref)
        return entry


def _trim(text: str, more: str = "") -> str:
    whole = f"{text} (--no {more})" if more else text
    return whole if len(whole) <= TRIMMED_CHARS else whole[: TRIMMED_CHARS - 1] + "…"


def _scores(verdict: Verdict) -> dict:
    return {"categories": verdict.categories, "scores": verdict.scores, "model": verdict.model}
