"""Names from a config (the scenario's, the companies', sweep keys) and key paths for
messages: :func:`clean_name` is the one rule for every name.

Dependency rule: the stdlib and ``engine.base`` only.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Mapping

from engine.base.errors import ConfigError, Shown
from engine.base.safetext import escape, is_unsafe

#: Longest name (scenario, company) a config may give.
MAX_NAME_LENGTH = 200


def key_path(*parts: str) -> str:
    """A dotted key path for messages; a part that would not show (empty, blank at an end,
    control or format characters) is quoted with escapes, e.g. ``revenue."\\n"``; the result
    holds no control or format character."""
    return ".".join(p if p and p.isprintable() and p == p.strip()
                    else escape(json.dumps(p, ensure_ascii=False), limit=None) for p in parts)


#: Zero-width (non-)joiners: format characters that emoji sequences and some scripts need.
_JOINERS = frozenset({"\u200c", "\u200d"})


def clean_name(source: str, key: str, raw: str, what: str = "name") -> str:
    """A name from a config, checked and normalised: the one rule for every name.

    Strips surrounding whitespace (a stray tab or newline at an end included); refuses control
    characters (C0 including NUL, DEL, C1), format characters (bidi overrides, zero-width
    spaces; a zero-width joiner only between two non-ASCII characters, as in emoji and some
    scripts) and the other characters :func:`engine.safetext.escape` would escape in what is
    left; then normalises to NFC. Accents, CJK and emoji are kept.

    Parameters
    ----------
    source : str
        The config file (for messages).
    key : str
        The key path of the name (for messages), e.g. ``scenario.name`` or ``revenue."A "``.
    raw : str
        The name as written.
    what : str
        What the name names, for messages ("company name").

    Returns
    -------
    str
        The name in NFC, without surrounding whitespace.

    Raises
    ------
    ConfigError
        For an unsafe character, a name that is empty after stripping, or one longer than
        :data:`MAX_NAME_LENGTH` characters.
    """
    if not isinstance(raw, str):
        raise ConfigError(source, key, f"{what} must be a string", raw, "Quote it: \"...\".")
    text = raw.strip()
    lead = len(raw) - len(raw.lstrip())
    for i, ch in enumerate(text):
        if not is_unsafe(ch):
            continue
        if (ch in _JOINERS and 0 < i < len(text) - 1 and not text[i - 1].isascii()
                and not text[i + 1].isascii()):
            continue
        raise ConfigError(source, key, f"{what} holds {_char_label(ch)} at position "
                          f"{lead + i + 1}: control and format characters could repaint a terminal or "
                          "hide text", raw,
                          "Remove it: a name is plain text (letters, digits, spaces, punctuation, "
                          "emoji).")
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise ConfigError(source, key, f"{what} is empty (or only spaces)", raw,
                          "Give it a name" + (", e.g. `Microsoft = 10`." if "company" in what
                                              else "."))
    if len(name) > MAX_NAME_LENGTH:
        raise ConfigError(source, key, f"{what} is longer than {MAX_NAME_LENGTH} characters",
                          Shown(f"{len(name):,} characters"), "Shorten it.")
    return name


def clean_names(source: str, where: str, table: Mapping[str, Any],
                what: str = "company name") -> dict[str, str]:
    """``{clean name: name as written}`` for the keys of `table` (``[revenue]``), each through
    :func:`clean_name`; two keys that are the same name once cleaned are an error naming both
    spellings (``Microsoft`` and ``"Microsoft "``, or an accent written two ways)."""
    out: dict[str, str] = {}
    for raw in table:
        name = clean_name(source, key_path(where, raw), raw, what)
        if name in out:
            first = out[name]
            # Spellings that differ only in Unicode form look the same: show their code points.
            same_look = (unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", raw))
            plain = (json.dumps(first, ensure_ascii=same_look),
                     json.dumps(raw, ensure_ascii=same_look))
            raise ConfigError(source, key_path(where, raw),
                              f"is the same {what} as {plain[0]} (names are compared in Unicode "
                              "NFC form, without surrounding spaces)", Shown(plain[1]),
                              "Keep one spelling of the name.")
        out[name] = raw
    return out


def _clean_text(source: str, key: str, raw: str) -> str:
    """Free text (a description): like :func:`clean_name`, but line breaks and tabs are kept
    and it is neither stripped nor limited in length."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n"))
    for i, ch in enumerate(text):
        if ch in "\n\t" or not is_unsafe(ch):
            continue
        if ch in _JOINERS and 0 < i < len(text) - 1 and not text[i - 1].isascii() \
                and not text[i + 1].isascii():
            continue
        raise ConfigError(source, key, f"holds {_char_label(ch)} at position {i + 1}: control and format characters could repaint a terminal or "
                          "hide text", raw, "Remove it (line breaks and tabs are fine).")
    return text


def _char_label(ch: str) -> str:
    """``U+001B (a control character)`` or ``U+202E RIGHT-TO-LEFT OVERRIDE``."""
    name = unicodedata.name(ch, "")
    if name:
        return f"U+{ord(ch):04X} {name}"
    kind = {"Cc": "a control character", "Co": "a private-use character",
            "Cn": "an unassigned character"}.get(unicodedata.category(ch), "a format character")
    return f"U+{ord(ch):04X} ({kind})"
