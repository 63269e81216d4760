"""The buttons under a result: Reroll, Vary, Edit, Cancel. They read their job from the database, so
they work after a restart."""

from __future__ import annotations

from dataclasses import replace

from bot.command import GenerationParams
from bot.jobs import JobRunner, JobSpec, new_seed
from bot.messages import Action, Reply, Request
from bot.store.jobs import JobKind, JobStore

GONE = "That result is no longer available (it expired or was never finished). Start again with /imagine."
NOT_YOURS = "Only the person who started this job can cancel it, and only while it runs."
NO_INSTRUCTION = "Say what to change, e.g. `make it snowy`."


class Buttons:
    def __init__(self, runner: JobRunner, jobs: JobStore) -> None:
        self._runner = runner
        self._jobs = jobs

    async def press(
        self, action: Action, job_id: str, request: Request, reply: Reply, instruction: str | None = None
    ) -> str | None:
        """Run the button's job; returns the new job's id when it delivered."""
        record = await self._jobs.get(job_id)
        if record is None:
            await reply.send_error(GONE)
            return None
        if action == Action.CANCEL:
            if not self._runner.cancel_job(job_id, request.user.key):
                await reply.send_error(NOT_YOURS)
            return None
        params = GenerationParams.from_json(record.prompt, record.params)
        if action == Action.REROLL:
            params = replace(params, seed=new_seed() if params.seed is not None else None)
            inputs, mask = await self._runner.input_images(job_id)
            spec = JobSpec(JobKind.REROLL, params, inputs, parent_id=job_id, mask=mask)
            return await self._runner.run(request, spec, reply)
        if action == Action.EDIT and not (instruction or "").strip():
            await reply.send_error(NO_INSTRUCTION)
            return None
        source = await self._runner.result_images(job_id)
        if not source:
            await reply.send_error(GONE)
            return None
        if action == Action.VARY:
            spec = JobSpec(JobKind.VARY, replace(params, seed=None), source[:1], parent_id=job_id)
        else:
            edited = replace(params, prompt=(instruction or "").strip(), seed=None)
            spec = JobSpec(JobKind.EDIT, edited, source[:1], parent_id=job_id)
        return await self._runner.run(request, spec, reply)
