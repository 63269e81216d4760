"""Blocked terms, matched so that the usual evasions do not get past: case, spaces and punctuation
between letters, leetspeak digits, zero-width characters, full-width and look-alike letters.

Terms and text share one fold (NFKD, look-alikes to Latin, casefold, marks and format characters dropped).
Some folded characters have several readings ("1" is 1, i or l; "!" is i or a separator), and the matcher
tries all of them. A term matches when consecutive tokens of the text spell it, optionally followed by a
short suffix that ends the last token, so "b.a.d w0rds" matches "badword" but "notabadwordsmith" does not."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

REGEX_PREFIX = "re:"

# Dotless i stands for "reads as i or l": Latin capital I, palochka, Cyrillic and Greek capital I look like both.
_I_OR_L = "ı"

# Look-alike letters to Latin, applied after NFKD and before casefold (so case matters: Greek capital eta
# looks like h, small eta like n). Full-width and mathematical letters need no entry: NFKD already maps them.
_LOOKALIKES_TEXT = {
    # Cyrillic
    "АаВвЕеКкМмНнОоРрСсТтУуХхЅѕЈјԀԁҮүҺһԚԛԜԝЬьп": "aabbeekkmmhhooppccttyyxxssjjddyyhhqqwwbbn",
    "ІӀӏ": _I_OR_L * 3,
    "і": "i",
    # Greek
    "ΑαΒβΕεΖΗηΚκΜμΝνΟοΡρΤτΥυΧχωγϲϹϳ": "aabbeezhnkkmunvooppttyuxxwyccj",
    "Ι": _I_OR_L,
    "ι": "i",
    # Latin small capitals and other look-alikes
    "ᴀʙᴄᴅᴇɢʜᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢɑɡȷɩ": "abcdeghjklmnoprstuvwyzagji",
    "ɪI": _I_OR_L * 2,
}
_LOOKALIKES = {
    ord(source): target
    for sources, targets in _LOOKALIKES_TEXT.items()
    for source, target in zip(sources, targets, strict=True)
}

# Extra readings besides the character itself (digits stay digits too, so terms with digits still match).
_LEET: dict[str, tuple[str, ...]] = {
    "0": ("o",),
    "1": ("i", "l"),
    "3": ("e",),
    "4": ("a",),
    "5": ("s",),
    "7": ("t",),
    "8": ("b",),
    "9": ("g",),
    "@": ("a",),
    "$": ("s",),
    "!": ("i",),
    "|": ("i", "l"),
    _I_OR_L: ("i", "l"),
}
_NOT_ITSELF = {_I_OR_L}  # a reading placeholder, never a letter of its own
_DROPPED = {"Mn", "Me", "Cf"}  # combining marks; zero-width space/joiner, word joiner, BOM, soft hyphen
_SUFFIXES = ("s", "es", "ed", "ing", "er", "ers")
_END = ""  # trie key of a node where a term (or suffix) ends: no character folds to ""

Reading = tuple[tuple[str, ...], bool]  # (letters it can be read as, whether it can be a separator)


def fold(text: str) -> str:
    """The text every match runs on; one character may still have several readings (see `_reading`)."""
    folded = unicodedata.normalize("NFKD", text).translate(_LOOKALIKES).casefold()
    if folded.isascii():
        return folded
    return "".join(char for char in folded if unicodedata.category(char) not in _DROPPED)


def _compute_reading(char: str) -> Reading:
    own = (char,) if char.isalnum() and char not in _NOT_ITSELF else ()
    return own + _LEET.get(char, ()), not char.isalnum()


_READINGS: dict[str, Reading] = {chr(code): _compute_reading(chr(code)) for code in range(128)}
_READINGS[_I_OR_L] = _compute_reading(_I_OR_L)


def _reading(char: str) -> Reading:
    reading = _READINGS.get(char)
    if reading is None:
        reading = _compute_reading(char)
        if len(_READINGS) < 65536:  # bounded: an attacker's text cannot grow it forever
            _READINGS[char] = reading
    return reading


def _term_key(term: str) -> str:
    """A plain term as the trie stores it: one reading per character, separators removed."""
    return "".join(letters[0] for letters, _ in map(_reading, fold(term)) if letters)


_FIRST_READING = str.maketrans({char: letters[0] for char, letters in _LEET.items() if not char.isdigit()})
_DIGIT_READING = str.maketrans({char: letters[0] for char, letters in _LEET.items() if char.isdigit()})
_SEPARATORS = re.compile(r"[\W_]+")
_LEET_DIGIT = re.compile("[" + "".join(char for char in _LEET if char.isdigit()) + "]")
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\(\?\(")


def _pattern_texts(text: str, folded: str) -> tuple[str, ...]:
    """What `re:` terms are searched in: the folded text as single-space separated words, the same with
    digits read as letters, and the text as written (for patterns about punctuation)."""
    if not folded.isascii() or any(char in folded for char in "@$!|"):
        folded = folded.translate(_FIRST_READING)
    words = _SEPARATORS.sub(" ", folded).strip()
    if _LEET_DIGIT.search(words) is None:
        return (words, text)
    return (words, words.translate(_DIGIT_READING), text)


class BadTerm(ValueError):
    """A term that cannot be used (an empty one, or a `re:` pattern that does not compile)."""


def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern:
        raise BadTerm("A `re:` term needs a pattern after `re:`.")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as error:
        raise BadTerm(f"`{pattern}` is not a valid regular expression ({error}).") from None
    if compiled.search("") is not None:
        raise BadTerm(f"`{pattern}` matches an empty text, so it would block every prompt.")
    return compiled


def check_term(term: str) -> str:
    """The term as it will be stored (trimmed), or BadTerm saying what is wrong."""
    term = term.strip()
    if not term:
        raise BadTerm("The term is empty.")
    if term.startswith(REGEX_PREFIX):
        _compile(term[len(REGEX_PREFIX) :].strip())
    elif not any(char.isalnum() for char in fold(term)):
        raise BadTerm(f"`{term}` has no letter or digit to match.")
    return term


def operator_terms(setting: str) -> list[str]:
    """MODERATION_BLOCKLIST: a comma list, trimmed, empty entries dropped."""
    return [term.strip() for term in setting.split(",") if term.strip()]


class Blocklist:
    """Built once per list (thousands of terms), then `match` is called on every prompt."""

    def __init__(self, trie: dict, patterns: list[tuple[str, re.Pattern[str]]]):
        self._trie = trie
        self._patterns = patterns  # (term as listed, compiled), in list order
        self._combined, self._uncombined = _combine(patterns)
        self._suffixes: dict = {}
        for suffix in _SUFFIXES:
            _insert(self._suffixes, suffix, suffix)

    @classmethod
    def of(cls, terms: Iterable[str]) -> Blocklist:
        """A pure function of the terms. A term check_term refuses raises BadTerm here too: a term silently
        left out would be a hole in moderation, so the operator's list fails at start instead."""
        trie: dict = {}
        patterns: list[tuple[str, re.Pattern[str]]] = []
        for raw in terms:
            term = check_term(raw)
            if term.startswith(REGEX_PREFIX):
                patterns.append((term, _compile(term[len(REGEX_PREFIX) :].strip())))
            else:
                _insert(trie, _term_key(term), term)
        return cls(trie, patterns)

    def match(self, text: str) -> str | None:
        """The term (as listed, `re:` included) that `text` contains, or None."""
        folded = fold(text)
        return self._match_terms(folded) or self._match_patterns(text, folded)

    def _match_terms(self, folded: str) -> str | None:
        root = self._trie
        if not root:
            return None
        readings = [_READINGS.get(char) or _reading(char) for char in folded]
        end = len(readings)
        explored: set[tuple[int, int, str | None]] = set()  # walks from different starts often meet
        after_separator = True
        for start, (letters, separator) in enumerate(readings):
            if after_separator and letters:
                # Fast path: plain letters with one reading, before any term ends, need no state set.
                node, position, dead = root, start, False
                while position < end:
                    readable, skippable = readings[position]
                    if skippable or len(readable) != 1 or _END in node:
                        break
                    child = node.get(readable[0])
                    if child is None:
                        dead = True
                        break
                    node, position = child, position + 1
                if dead:
                    pass
                elif position < end:
                    found = self._walk(readings, position, node, explored)
                    if found is not None:
                        return found
                elif _END in node:
                    return node[_END]  # the text ends with a term
            after_separator = separator
        return None

    def _walk(
        self, readings: list[Reading], position: int, node: dict, explored: set[tuple[int, int, str | None]]
    ) -> str | None:
        """Follow the trie from `node` at `position`, one text character at a time, keeping every reading
        alive. A state is (node, term): term is None in the term trie, or the term already spelled while
        the suffix trie is walked. A state already explored at a position (from another start, or by
        another reading) led nowhere, so it is dropped: each (position, state) is worked on once, even when
        characters that are both letters and separators ("!!!!") keep walks from every start alive."""
        root, suffixes, end = self._trie, self._suffixes, len(readings)
        if (position, id(node), None) in explored:
            return None
        explored.add((position, id(node), None))
        states: list[tuple[dict, str | None]] = [(node, None)]
        if node is not root and _END in node:
            if readings[position][1]:
                return node[_END]
            states.append((suffixes, node[_END]))
        while states and position < end:
            letters, separator = readings[position]
            position += 1
            at_boundary = position == end or readings[position][1]
            advanced: list[tuple[dict, str | None]] = []
            for node, term in states:
                if separator and node is not root:
                    advanced.append((node, term))  # read as a separator: skipped between tokens
                for letter in letters:
                    child = node.get(letter)
                    if child is None:
                        continue
                    found = child.get(_END)
                    if found is not None and at_boundary:
                        return term or found
                    if term is None:
                        advanced.append((child, None))
                        if found is not None:
                            advanced.append((suffixes, found))
                    elif child:
                        advanced.append((child, term))
            states = []
            for state in advanced:
                key = (position, id(state[0]), state[1])
                if key not in explored:
                    explored.add(key)
                    states.append(state)
        return None

    def _match_patterns(self, text: str, folded: str) -> str | None:
        if not self._patterns:
            return None
        texts = _pattern_texts(text, folded)
        candidates = self._patterns
        if self._combined is not None and not any(self._combined.search(candidate) for candidate in texts):
            candidates = self._uncombined
        for term, pattern in candidates:
            if any(pattern.search(candidate) for candidate in texts):
                return term
        return None


def _insert(trie: dict, key: str, value: str) -> None:
    node = trie
    for char in key:
        node = node.setdefault(char, {})
    node.setdefault(_END, value)  # the first listed term wins when two fold alike


def _combine(patterns: list[tuple[str, re.Pattern[str]]]) -> tuple[re.Pattern[str] | None, list]:
    """One alternation of the patterns that can share one (so clean text is rejected in one search per text),
    and the patterns left out: those with backreferences, whose group numbers the alternation would shift."""
    shared = [pattern.pattern for _, pattern in patterns if not _BACKREFERENCE.search(pattern.pattern)]
    alone = [(term, pattern) for term, pattern in patterns if _BACKREFERENCE.search(pattern.pattern)]
    if not shared:
        return None, patterns
    try:
        return re.compile("|".join(f"(?:{pattern})" for pattern in shared), re.IGNORECASE), alone
    except (re.error, OverflowError, RecursionError):  # e.g. two patterns naming the same group, inline flags
        return None, patterns
