"""`/info` (Midjourney's): the member's running and queued jobs here, today's usage against the limits, and
this server's default model and images per prompt."""

from __future__ import annotations

import time

from bot.commands.usage import usage_lines
from bot.jobs import JobRunner
from bot.messages import Reply, Request
from bot.scope_limits import ScopeLimits
from bot.store.jobs import JobRecord, JobStore
from bot.store.quotas import QuotaStore

SHOWN_PROMPT_CHARS = 60


async def info(
    runner: JobRunner, jobs: JobStore, scope_limits: ScopeLimits, quotas: QuotaStore, request: Request, reply: Reply
) -> None:
    running = await jobs.running_for(request.scope.key, request.user.key)
    lines = [f"Your jobs here: {len(running)} running" if running else "Your jobs here: none running."]
    lines += [_job_line(runner, job, time.time()) for job in running]
    lines += await usage_lines(scope_limits, quotas, request)
    model = await scope_limits.default_model(request.scope)
    count = await scope_limits.images_per_prompt(request.scope)
    lines.append(f"Default model here: {model} · images per prompt: {count}")
    await reply.send_text("\n".join(lines))


def _job_line(runner: JobRunner, job: JobRecord, now: float) -> str:
    prompt = job.prompt if len(job.prompt) <= SHOWN_PROMPT_CHARS else job.prompt[: SHOWN_PROMPT_CHARS - 1] + "…"
    state = f"{job.kind} · {max(0, int(now - job.created_at))}s"
    progress = runner.latest_progress(job.id)
    if progress is not None and progress.queue_position:
        state += f" · position {progress.queue_position} in queue"
    elif progress is not None and progress.percent is not None:
        state += f" · {int(progress.percent)}%"
    return f"• {prompt} ({state}; /cancel stops it)"
