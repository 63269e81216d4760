"""After a crash: jobs the dead process left running were refunded at start; their users are told here,
once. A job's "working" notice is edited to say so (its ✖️ then finds the job ended); a job that had none
gets a reply in the thread it was asked in, mentioning its user. Also where a request's origin and a
notice's reference are written, as the JSON the core stores for us."""

from __future__ import annotations

import json

from adapters.matrix.events import PLATFORM, Target
from adapters.matrix.outbox import Outbox, text_content
from bot import interruptions
from bot.commands.actions import INTERRUPTED_NOTICE
from bot.core import Atelier
from bot.store.jobs import InterruptedJob


def origin_of(target: Target, sender: str) -> str:
    """Where a request came from: its room, thread and event, and who asked."""
    return json.dumps({"room": target.room_id, "thread": target.thread_root, "event": target.reply_to, "user": sender})


def status_ref(room_id: str, event_id: str) -> str:
    return json.dumps({"room": room_id, "event": event_id})


async def keep_telling(core: Atelier, outbox: Outbox) -> None:
    async def tell(job: InterruptedJob) -> bool:
        if job.status_ref:
            status = json.loads(job.status_ref)
            await outbox.api.edit(status["room"], status["event"], text_content(INTERRUPTED_NOTICE, notice=True))
            return True
        if not job.origin:
            return False
        where = json.loads(job.origin)
        target = Target(where["room"], where.get("thread"), where.get("event"))
        content = text_content(f"{where['user']}: {INTERRUPTED_NOTICE}", notice=True)
        content["m.mentions"] = {"user_ids": [where["user"]]}
        await outbox.post(target, content, reply=True)
        return True

    await interruptions.keep_telling(core, PLATFORM, tell)
