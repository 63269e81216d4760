"""What `atelier doctor` prints: one line per check, `ok` or `FAIL` and what to fix, never a secret."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.redaction import redact

# Every outside call a check makes gives up after this long.
CHECK_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Line:
    ok: bool
    what: str  # the thing checked: "database", "provider agnes", "discord permissions"
    text: str = ""  # what was found, or what to fix (naming the setting)

    def render(self, secrets: Iterable[str]) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return redact(f"{mark} {self.what}" + (f": {self.text}" if self.text else ""), secrets)


def ok(what: str, text: str = "") -> Line:
    return Line(True, what, text)


def fail(what: str, text: str) -> Line:
    return Line(False, what, text)
