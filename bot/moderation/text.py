"""Blocked terms, matched so that the usual evasions do not get past: case, spaces and punctuation
between letters, leetspeak digits, zero-width characters, full-width and look-alike letters."""

from __future__ import annotations

REGEX_PREFIX = "re:"


class BadTerm(ValueError):
    """A term that cannot be used (an empty one, or a `re:` pattern that does not compile)."""


def check_term(term: str) -> str:
    """The term as it will be stored (trimmed), or BadTerm saying what is wrong."""
    raise NotImplementedError


class Blocklist:
    """Built once per list (thousands of terms), then `match` is called on every prompt."""

    @classmethod
    def of(cls, terms: list[str] | tuple[str, ...]) -> Blocklist:
        raise NotImplementedError

    def match(self, text: str) -> str | None:
        """The term (as listed, `re:` included) that `text` contains, or None."""
        raise NotImplementedError
