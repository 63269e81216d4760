"""How log lines look: human-readable by default, or with LOG_FORMAT=json one JSON object a line (time,
level, logger, event, and the job id and scope of the job a line is about) for a log collector.

Which job a line is about travels in a context variable set when a job starts running: every line its
task logs, the providers' and the retry loop's included, carries it without being passed `extra=`.
Secrets are masked before any formatter sees a record (bot.redaction.RedactingFilter on the handler)."""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_job: ContextVar[tuple[str, str] | None] = ContextVar("atelier_log_job", default=None)


def about_job(job_id: str, scope: str) -> None:
    """From here on in this task (and the tasks it starts), log lines name this job and scope. Call it at
    the top of the job's own task: the setting ends with that task."""
    _job.set((job_id, scope))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        job = _job.get()
        job_id = getattr(record, "job_id", None) or (job[0] if job else None)
        scope = getattr(record, "scope", None) or (job[1] if job else None)
        if job_id:
            line["job_id"] = job_id
        if scope:
            line["scope"] = scope
        if record.exc_info and record.exc_info[1] is not None:  # not after RedactingFilter: it folds it in
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
