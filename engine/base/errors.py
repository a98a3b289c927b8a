"""User-facing errors.

Every error a user can cause carries the file, the key path, the rule that was broken, the
value that broke it and how to fix it; the CLI prints ``str(error)`` on stderr and exits 2.

Text in a message may come from a config (a company name, a key, a value), so ``str(error)``
shows control and format characters as escapes (:func:`engine.safetext.escape`): a message can
never move the cursor or repaint the terminal it is printed on.
"""

from __future__ import annotations

import math

from .safetext import escape

#: Longest value shown in a message (a longer one is cut with an ellipsis).
VALUE_LIMIT = 80
#: Longest key path shown in a message.
KEY_LIMIT = 200


class CapexgapError(Exception):
    """Base class of errors caused by the user's input (exit code 2, no traceback).

    ``str(error)`` has every control and format character escaped (see the module docstring).
    """

    def __str__(self) -> str:
        return escape(super().__str__(), limit=None)


class ConfigError(CapexgapError, ValueError):
    """A config file (or a command-line value) breaks a rule.

    Parameters
    ----------
    file : str or None
        The config file's path, or None for a value that came from elsewhere.
    key : str
        Dotted key path inside the file, e.g. ``revenue.Microsoft.ci90``; stored as shown, with
        control and format characters escaped.
    rule : str
        The rule that was broken, e.g. ``"must be < 1"``.
    value : object
        The offending value (a string is shown with quotes, a :class:`Shown` as it is; both
        escaped and cut to :data:`VALUE_LIMIT` characters).
    fix : str
        One sentence on how to fix it.
    """

    def __init__(self, file: str | None, key: str, rule: str, value: object = None,
                 fix: str = "") -> None:
        self.file = file
        self.key = escape(key, limit=None) if key else key
        self.rule = rule
        self.value = value
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{escape(self.file, limit=None)}: " if self.file else ""
        key = f"{escape(self.key, limit=KEY_LIMIT)}: " if self.key else ""
        got = "" if self.value is None else f" (got {_show(self.value)})"
        fix = f" {self.fix}" if self.fix else ""
        return escape(f"{where}{key}{self.rule}{got}.{fix}", limit=None)


class OutputError(CapexgapError):
    """An output file cannot or must not be written (e.g. it exists and --force was not given)."""


class Shown(str):
    """Text already written for a message (e.g. ``"1e+400"`` or ``"min=0, max=2"``): shown
    without the quotes a plain string value gets."""


def show_int(value: int) -> str:
    """A whole number for a message: in full when short, else its first digits and its length
    (a 400-digit number is not printed whole, and one past Python's 4,300-digit limit for
    ``str(int)`` does not fail)."""
    if value.bit_length() <= 100:
        return str(value)
    sign = "-" if value < 0 else ""
    if value.bit_length() <= 10_000:
        text = str(abs(value))
        return f"{sign}{text[:12]}... ({len(text):,} digits)"
    digits = int(value.bit_length() * math.log10(2)) + 1
    return f"a {'negative ' if sign else ''}whole number of about {digits:,} digits"


def _show(value: object) -> str:
    if isinstance(value, Shown):
        text = str(value)
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        text = show_int(value)
    else:
        try:
            text = str(value)
        except ValueError:  # e.g. a list holding an integer past str()'s digit limit
            text = f"a {type(value).__name__} too large to show"
    return escape(text, limit=None if len(text) <= VALUE_LIMIT else VALUE_LIMIT - 3)
