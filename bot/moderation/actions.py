"""What the buttons in the moderators' channel do: Delete, Ban user, Dismiss on alerts; Approve and
Reject on held results. Each press is checked again: only the scope's admins, only once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from bot.clock import Clock
from bot.images import sniff_mime
from bot.jobs import result_delivery
from bot.lease import WALL
from bot.messages import Reply, Request, ResultImage
from bot.moderation.desk import Desk, ModVerb
from bot.moderation.desks import ModeratorDesks, platform_of
from bot.moderation.review import PROMPT_SHOWN, prompt_of
from bot.results import ResultFiles
from bot.store import Store
from bot.store.jobs import JobRecord
from bot.store.moderation import AuditEntry, AuditEvent, Ban, Review, ReviewStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_YOURS = "Only this server's moderators can do that."
GONE = "This item is no longer kept, so there is nothing to do."
NO_DESK = "I can't reach this chat's platform right now; please try again in a minute."
IMAGES_GONE = "This image is no longer kept, so it can't be posted. Reject it to tell the requester."
NO_ORIGIN = "I don't know where this was asked for, so it can't be posted. Reject it instead."
APPROVAL_NOT_POSTED = (
    "The image could not be posted where it was asked for; the review is still open, try Approve again."
)
NOT_POSTED = "Nothing of this was posted, so there is nothing to delete."
BAN_REASON = "banned from the moderators' channel"
# What settles an item (its buttons removed), by verb.
SETTLED = {
    ModVerb.APPROVE: "✅ Approved by {}",
    ModVerb.REJECT: "❌ Rejected by {}",
    ModVerb.DELETE: "🗑 Deleted by {}",
    ModVerb.BAN: "🔨 Banned by {}",
    ModVerb.DISMISS: "👌 Dismissed by {}",
}
CLOSED_AS = {ModVerb.DELETE: "deleted", ModVerb.BAN: "banned", ModVerb.DISMISS: "dismissed"}


class DeskFailed(Exception):
    """A desk call raised or timed out; its cause is logged, the moderator is told in plain words."""


@dataclass(frozen=True)
class _Item:
    """What settling needs of an alert (AuditEntry) or a held result (Review)."""

    id: int
    scope_key: str
    job_id: str | None
    desk_ref: str | None

    @classmethod
    def of(cls, item: AuditEntry | Review) -> _Item:
        return cls(item.id, item.scope_key, item.job_id, item.desk_ref)


def already_handled(by: str | None) -> str:
    return f"Already handled by {by or 'another moderator'}."


class ModeratorActions:
    def __init__(self, store: Store, desks: ModeratorDesks, results: ResultFiles, *, clock: Clock = WALL) -> None:
        self._store = store
        self._desks = desks
        self._results = results
        self._clock = clock  # the wall clock audit entries are stamped with

    async def press(self, verb: ModVerb, item_id: int, request: Request, reply: Reply) -> None:
        if verb in (ModVerb.APPROVE, ModVerb.REJECT):
            await self._press_review(verb, item_id, request, reply)
        else:
            await self._press_alert(verb, item_id, request, reply)

    async def _press_review(self, verb: ModVerb, review_id: int, request: Request, reply: Reply) -> None:
        review = await self._store.moderation.review(review_id)
        if review is None:
            await reply.send_error(GONE)
        elif (refusal := refusal_for(review.scope_key, request)) is not None:
            await reply.send_error(refusal)
        elif review.status != ReviewStatus.PENDING:
            await reply.send_error(already_handled(review.decided_by))
        elif (desk := self._desks.desk(platform_of(review.scope_key))) is None:
            await reply.send_error(NO_DESK)
        elif verb == ModVerb.APPROVE:
            await self._approve(review, desk, request, reply)
        else:
            await self._reject(review, desk, request, reply)

    async def _press_alert(self, verb: ModVerb, entry_id: int, request: Request, reply: Reply) -> None:
        entry = await self._store.moderation.entry(entry_id)
        if entry is None:
            await reply.send_error(GONE)
        elif (refusal := refusal_for(entry.scope_key, request)) is not None:
            await reply.send_error(refusal)
        elif entry.closed_by is not None:
            await reply.send_error(already_handled(entry.closed_by))
        elif (desk := self._desks.desk(platform_of(entry.scope_key))) is None:
            await reply.send_error(NO_DESK)
        elif verb == ModVerb.DELETE:
            await self._delete(entry, desk, request, reply)
        elif not await self._store.moderation.close_entry(entry.id, request.user.name, CLOSED_AS[verb]):
            await reply.send_error(await self._closed_by(entry.id))
        else:
            if verb == ModVerb.BAN:
                await self._ban(entry, request, reply)
            else:
                await reply.send_text("Dismissed.")
            await self._settled(desk, _Item.of(entry), verb, request)

    # ------------------------------------------------------------------------- held results

    async def _approve(self, review: Review, desk: Desk, request: Request, reply: Reply) -> None:
        record = await self._store.jobs.get(review.job_id)
        images = await self._images(record)
        if record is None or images is None or review.origin is None:  # no origin: nowhere to post it
            await reply.send_error(IMAGES_GONE if review.origin is not None else NO_ORIGIN)
            return
        if not await self._store.moderation.decide(
            review.id, ReviewStatus.APPROVED, request.user.name, at=self._clock.now()
        ):
            await reply.send_error(await self._decided_by(review.id))
            return
        # As it would have been posted (a grid again, with U/V), with the buttons every model has (an approved
        # result of a mask model gets no Zoom Out: its model is not read here).
        delivery = await result_delivery(review.job_id, images, review.caption, mask=False)
        try:
            ref = await self._call(desk.deliver(review.origin, delivery), f"post approved job {review.job_id}")
        except DeskFailed:
            await self._store.moderation.reopen(review.id)  # nothing was posted: Approve may be pressed again
            await reply.send_error(APPROVAL_NOT_POSTED)
            return
        await reply.send_text(f"Approved: {record.user_name}'s image is posted where they asked for it.")
        if ref is not None:
            await self._store.jobs.note_posted(review.job_id, ref)
        await self._audit(review, AuditEvent.APPROVED, record, request)
        await self._settled(desk, _Item.of(review), ModVerb.APPROVE, request)

    async def _reject(self, review: Review, desk: Desk, request: Request, reply: Reply) -> None:
        if not await self._store.moderation.decide(
            review.id, ReviewStatus.REJECTED, request.user.name, at=self._clock.now()
        ):
            await reply.send_error(await self._decided_by(review.id))
            return
        notice = f"A moderator did not approve your image ({prompt_of(review.caption, PROMPT_SHOWN)})."
        told = review.origin is not None
        if review.origin is not None:
            try:
                await self._call(desk.tell(review.origin, notice), f"tell the requester of job {review.job_id}")
            except DeskFailed:
                told = False
        await reply.send_text(
            "Rejected: the requester was told." if told else "Rejected (the requester could not be told)."
        )
        record = await self._store.jobs.get(review.job_id)
        await self._audit(review, AuditEvent.REJECTED, record, request)
        await self._settled(desk, _Item.of(review), ModVerb.REJECT, request)

    async def _images(self, record: JobRecord | None) -> list[ResultImage] | None:
        """The held result's images, from the files its job kept (so a restart loses nothing)."""
        if record is None or not record.result or not record.result.get("files"):
            return None
        datas = await self._results.load(record.result["files"])
        if datas is None:
            return None
        sizes = record.result.get("sizes", [])
        images = []
        for index, data in enumerate(datas):
            width, _, height = (sizes[index] if index < len(sizes) else "0x0").partition("x")
            images.append(ResultImage(data, sniff_mime(data), int(width or 0), int(height or 0)))
        return images

    # ------------------------------------------------------------------------------- alerts

    async def _delete(self, entry: AuditEntry, desk: Desk, request: Request, reply: Reply) -> None:
        record = await self._store.jobs.get(entry.job_id) if entry.job_id else None
        ref = record.posted_ref if record is not None else None
        if ref is None:
            await reply.send_error(NOT_POSTED)
            return
        # Deleting twice is harmless (the second finds it gone), so delete first and close after: a
        # platform that failed leaves the alert open to try again.
        try:
            removed = await self._call(desk.delete(ref), f"delete the result of job {entry.job_id}")
        except DeskFailed:
            await reply.send_error("I could not delete that message; please try again in a minute.")
            return
        if not await self._store.moderation.close_entry(entry.id, request.user.name, CLOSED_AS[ModVerb.DELETE]):
            await reply.send_error(await self._closed_by(entry.id))
            return
        await reply.send_text("Deleted." if removed else "It was already gone.")
        await self._settled(desk, _Item.of(entry), ModVerb.DELETE, request)

    async def _ban(self, entry: AuditEntry, request: Request, reply: Reply) -> None:
        ban = Ban(entry.user_key, entry.user_name, until=None, reason=BAN_REASON, by=request.user.name)
        await self._store.moderation.ban(entry.scope_key, ban, at=self._clock.now())
        await reply.send_text(f"{entry.user_name} is banned here until a moderator lifts it (/mod unban).")

    # ------------------------------------------------------------------------------ helpers

    async def _call(self, call: Awaitable[T], what: str) -> T:
        try:
            return await self._desks.within(call)
        except Exception as exc:
            log.warning("could not %s: %r", what, exc)
            raise DeskFailed(what) from exc

    async def _settled(self, desk: Desk, item: _Item, verb: ModVerb, request: Request) -> None:
        """Audit the moderator's action and mark the desk message with who did what (best effort)."""
        await self._store.moderation.record(
            item.scope_key,
            AuditEvent.MOD_ACTION,
            user_key=request.user.key,
            user_name=request.user.name,
            at=self._clock.now(),
            job_id=item.job_id,
            detail={"action": str(verb), "item": item.id},
        )
        if item.desk_ref is not None:
            try:
                settle = desk.settle(item.desk_ref, SETTLED[verb].format(request.user.name))
                await self._call(settle, "settle a desk item")
            except DeskFailed:
                pass  # the action is done; only the note under the desk message is missing

    async def _audit(self, review: Review, event: AuditEvent, record: JobRecord | None, request: Request) -> None:
        """The decision on a held result, under its requester (as the job's other entries are)."""
        await self._store.moderation.record(
            review.scope_key,
            event,
            user_key=review.user_key,
            user_name=record.user_name if record is not None else "",
            at=self._clock.now(),
            job_id=review.job_id,
            detail={"by": request.user.name},
        )

    async def _decided_by(self, review_id: int) -> str:
        review = await self._store.moderation.review(review_id)
        return already_handled(review.decided_by if review is not None else None)

    async def _closed_by(self, entry_id: int) -> str:
        entry = await self._store.moderation.entry(entry_id)
        return already_handled(entry.closed_by if entry is not None else None)


def refusal_for(scope_key: str, request: Request) -> str | None:
    """Only the admins of the item's own scope act on it, whatever the platform showed them."""
    if not request.is_admin or scope_key != request.scope.key:
        return NOT_YOURS
    return None
