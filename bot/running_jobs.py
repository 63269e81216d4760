"""The image jobs at work: stopped by their user (Cancel, /cancel), drained at shutdown, and waited for
by a button pressed the instant their result arrived."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

# How long a button pressed at the instant its result arrived waits for that job to commit.
SETTLE_SECONDS = 10.0


@dataclass
class _Running:
    task: asyncio.Task
    scope_key: str
    user_key: str
    cancelled_by_user: bool = False
    committed: bool = False  # done and charged, still at work (a review being posted): no longer cancellable


class RunningJobs:
    def __init__(self) -> None:
        self._jobs: dict[str, _Running] = {}

    def add(self, job_id: str, task: asyncio.Task, scope_key: str, user_key: str) -> None:
        self._jobs[job_id] = _Running(task, scope_key, user_key)
        task.add_done_callback(lambda _: self._jobs.pop(job_id, None))

    def cancelled_by_user(self, job_id: str) -> bool:
        running = self._jobs.get(job_id)
        return running is not None and running.cancelled_by_user

    def charged(self, job_id: str) -> None:
        """The job is done and charged though still at work: a Cancel now would claim a refund not coming."""
        if (running := self._jobs.get(job_id)) is not None:
            running.committed = True

    def cancel_for(self, scope_key: str, user_key: str) -> int:
        """Cancel this user's running jobs in this scope. Returns how many were stopped."""
        count = 0
        for running in self._jobs.values():
            if running.scope_key == scope_key and running.user_key == user_key and _cancel_once(running):
                count += 1
        return count

    def cancel_job(self, job_id: str, user_key: str) -> bool:
        running = self._jobs.get(job_id)
        if running is None or running.user_key != user_key:
            return False
        return _cancel_once(running)

    def holds(self, job_id: str) -> bool:
        """Whether this process runs the job (a cancel for it is this process's to carry out)."""
        return job_id in self._jobs

    def cancellable(self) -> list[str]:
        """The jobs a cancel could still stop: what the watcher of other processes' cancels asks about."""
        return [job_id for job_id, r in self._jobs.items() if not (r.task.done() or r.cancelled_by_user or r.committed)]

    def cancel_requested(self, job_id: str) -> bool:
        """Another process asked for this job's user (the store checked who): cancel as a local Cancel."""
        running = self._jobs.get(job_id)
        return running is not None and _cancel_once(running)

    async def drain(self, timeout: float) -> None:
        """At shutdown: let running jobs finish for `timeout` seconds, then cancel (and so refund) the rest."""
        tasks = [r.task for r in self._jobs.values() if not r.task.done()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def settled(self, job_id: str) -> None:
        """A button pressed the instant its result arrived: let the job finish committing first.
        Waits without taking on the job's outcome, and without hiding our own cancellation."""
        running = self._jobs.get(job_id)
        if running is not None:
            await asyncio.wait([running.task], timeout=SETTLE_SECONDS)


def _cancel_once(running: _Running) -> bool:
    """Cancel a job the user stops; a second press or /cancel while it refunds does nothing."""
    if running.task.done() or running.cancelled_by_user or running.committed:
        return False
    running.cancelled_by_user = True
    running.task.cancel()
    return True
