"""User-facing errors.

Every error a user can cause carries the file, the key path, the rule that was broken, the
value that broke it and how to fix it; the CLI prints ``str(error)`` on stderr and exits 2.
"""

from __future__ import annotations


class CapexgapError(Exception):
    """Base class of errors caused by the user's input (exit code 2, no traceback)."""


class ConfigError(CapexgapError, ValueError):
    """A config file (or a command-line value) breaks a rule.

    Parameters
    ----------
    file : str or None
        The config file's path, or None for a value that came from elsewhere.
    key : str
        Dotted key path inside the file, e.g. ``revenue.Microsoft.ci90``.
    rule : str
        The rule that was broken, e.g. ``"must be < 1"``.
    value : object
        The offending value (shown with ``repr``-like formatting).
    fix : str
        One sentence on how to fix it.
    """

    def __init__(self, file: str | None, key: str, rule: str, value: object = None,
                 fix: str = "") -> None:
        self.file = file
        self.key = key
        self.rule = rule
        self.value = value
        self.fix = fix
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.file}: " if self.file else ""
        key = f"{self.key}: " if self.key else ""
        got = "" if self.value is None else f" (got {_show(self.value)})"
        fix = f" {self.fix}" if self.fix else ""
        return f"{where}{key}{self.rule}{got}.{fix}"


class OutputError(CapexgapError):
    """An output file cannot or must not be written (e.g. it exists and --force was not given)."""


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
