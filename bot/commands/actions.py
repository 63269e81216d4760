"""The buttons under a result: Reroll, Vary, Edit. They read their job from the database, so they
work after a restart."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from bot.jobs import JobSpec, new_seed
from bot.messages import Action, Reply, Request
from bot.parsing import GenerationParams

if TYPE_CHECKING:
    from bot.core import Atelier

GONE = "That result is no longer available (it expired or was never finished). Start again with /imagine."


async def run_action(
    core: Atelier, action: Action, job_id: str, request: Request, reply: Reply, instruction: str | None = None
) -> str | None:
    record = await core.store.jobs.get(job_id)
    if record is None:
        await reply.send_error(GONE)
        return None
    if action == Action.CANCEL:
        if not core.runner.cancel_job(job_id, request.user.key):
            await reply.send_error("Only the person who started this job can cancel it, and only while it runs.")
        return None
    params = GenerationParams.from_json(record.prompt, record.params)
    if action == Action.REROLL:
        params = replace(params, seed=new_seed() if params.seed is not None else None)
        inputs, mask = await core.runner.input_images(job_id)
        spec = JobSpec("reroll", params, inputs, parent_id=job_id, mask=mask)
        return await core.runner.run(request, spec, reply)
    source = await core.runner.result_images(job_id)
    if not source:
        await reply.send_error(GONE)
        return None
    if action == Action.VARY:
        spec = JobSpec("vary", replace(params, seed=None), source[:1], parent_id=job_id)
        return await core.runner.run(request, spec, reply)
    if not instruction or not instruction.strip():
        await reply.send_error("Say what to change, e.g. `make it snowy`.")
        return None
    spec = JobSpec("edit", replace(params, prompt=instruction.strip(), seed=None), source[:1], parent_id=job_id)
    return await core.runner.run(request, spec, reply)
