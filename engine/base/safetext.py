"""Text from outside (a config, a result file) made safe to show on a terminal or in a plot.

A scenario or company name is free text that a user, or someone who sent them a config or a
result file, typed. Printed raw, an escape sequence in it can move the cursor, repaint the
screen or change the title of the window; a right-to-left override can reorder what follows.
So every such string is shown through :func:`escape`, which spells control and format
characters as Python escapes (``\\x1b``, ``\\u202e``) and cuts very long text.

Dependency rule: the standard library only.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories shown as escapes: controls (C0, DEL, C1), format characters (bidi
#: overrides, zero-width joiners), surrogates, private use, unassigned, line/paragraph separators.
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

#: Longest text shown whole; longer text is cut with an ellipsis (a 5 MB title is not drawn).
DEFAULT_LIMIT = 200


def is_unsafe(ch: str) -> bool:
    """True if the character ``ch`` must not reach a terminal raw."""
    return unicodedata.category(ch) in UNSAFE_CATEGORIES


def escape(text: object, limit: int | None = DEFAULT_LIMIT) -> str:
    """``text`` with every unsafe character spelled as an escape, cut to ``limit`` characters.

    Parameters
    ----------
    text : object
        The text (anything else is shown through ``str``).
    limit : int or None
        Longest result before the cut (``...`` and the number of characters left out are added);
        None for no cut.

    Returns
    -------
    str
        Printable text: no character of it is a control or format character.

    Examples
    --------
    >>> escape("Micro\\x1b[2Jsoft")
    'Micro\\\\x1b[2Jsoft'
    """
    s = text if isinstance(text, str) else str(text)
    out = []
    for ch in s:
        if is_unsafe(ch):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    shown = "".join(out)
    if limit is not None and len(shown) > limit:
        shown = f"{shown[:limit]}... ({len(shown) - limit:,} more characters)"
    return shown
