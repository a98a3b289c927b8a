"""Compare what a documented command printed with what its page shows (docs_commands.py runs
the commands).

A shown line and a printed line correspond when their text is the same once every number
is set aside (runs of spaces count as one space). Corresponding lines must carry the same
numbers, compared as printed (``0.161%``, ``1,606``, ``5.89e-10``), except where a number is
machine-dependent: a number of seconds or a rate (followed by ``s``, ``ms``, ``us``,
``ns``, ``ns/trial`` or ``trials/s``), a thread count (followed by ``thread`` or ``threads``,
either noun: a shown ``2 threads`` is printed ``1 thread`` on one CPU), and a JSON value
whose key ends in ``_s``. The note ``(plus N s to compile the kernels once;
they are now cached)``, printed only when the kernel cache is cold, is removed from the
printed lines before comparing.
"""

from __future__ import annotations

import difflib
import re

from docs_pages import Command

#: A number as printed: optional sign, thousands commas, decimals, exponent, percent sign.
#: Not part of a word ("S2023", "ai-capex-2024" gives 2024, "x86"), never a bare sign.
NUMBER = r"(?<![\w.])[-+]?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?%?"
_NUMBER_RE = re.compile(NUMBER)
#: What follows a machine-dependent number: a unit of time or rate, or a thread count.
_IGNORED_AFTER = re.compile(
    r"\s*(?:s|ms|us|µs|ns|ns/trial|(?:[kMG]\s?)?trials/s|threads?)(?![\w/])")
#: What precedes a machine-dependent number: a JSON key ending in _s (seconds).
_IGNORED_BEFORE = re.compile(r'_s"\s*:\s*$')
#: Printed only when the kernel cache is cold.
_COMPILE_NOTE = re.compile(r" \(plus [0-9.]+ s to compile the kernels once; they are now cached\)")
_ELLIPSIS = "..."



def _ignored(line: str, start: int, end: int) -> bool:
    """Whether the number at line[start:end] is machine-dependent (seconds, rates, threads)."""
    return bool(_IGNORED_AFTER.match(line, end)) or bool(_IGNORED_BEFORE.search(line[:start]))


def _pattern(shown: str) -> re.Pattern[str]:
    """A regex matching a printed line that corresponds to the shown line.

    Numbers become capturing groups of any number, runs of spaces match any run of spaces,
    and ``...`` matches any text.
    """
    parts: list[str] = []
    pos = 0
    for m in _NUMBER_RE.finditer(shown):
        parts.append(_text_pattern(shown[pos:m.start()]))
        parts.append(f"({NUMBER})")
        pos = m.end()
    parts.append(_text_pattern(shown[pos:]))
    return re.compile("".join(parts))


def _text_pattern(text: str) -> str:
    out = []
    for piece in re.split(r"(\.\.\.|\s+)", text):
        if piece == _ELLIPSIS:
            out.append(".*?")
        elif piece and piece.isspace():
            out.append(r"\s+")
        else:  # "thread" and "threads" alike: the count beside them is machine-dependent
            out.append(re.sub(r"\bthreads?\b", "threads?", re.escape(piece)))
    return "".join(out)


def _numbers(shown: str) -> list[tuple[str, bool]]:
    """The shown line's numbers, each with whether it is ignored."""
    return [(m.group(), _ignored(shown, m.start(), m.end())) for m in _NUMBER_RE.finditer(shown)]


def corresponds(shown: str, printed: str) -> re.Match[str] | None:
    """Match a printed line against a shown one by their text, numbers set aside.

    Parameters
    ----------
    shown, printed : str
        The shown line and a printed line.

    Returns
    -------
    re.Match or None
        The match (its groups are the printed numbers), or None when the texts differ.
    """
    return _pattern(shown.strip()).fullmatch(printed.strip())


def number_differences(shown: str, match: re.Match[str]) -> list[tuple[str, str]]:
    """The compared numbers of a shown line that differ from the printed ones.

    Parameters
    ----------
    shown : str
        The shown line.
    match : re.Match
        Its match against the printed line (`corresponds`).

    Returns
    -------
    list of (str, str)
        (shown, printed) for every differing number that is not machine-dependent.
    """
    return [(number, printed)
            for (number, ignored), printed in zip(_numbers(shown.strip()), match.groups())
            if not ignored and number != printed]


def printed_lines(output: str) -> list[str]:
    """The printed output as lines to compare: the cold-cache compile note removed.

    Parameters
    ----------
    output : str
        stdout and stderr together.

    Returns
    -------
    list of str
        Its lines, right-stripped, without trailing blank lines.
    """
    lines = [_COMPILE_NOTE.sub("", line).rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def shown_lines(command: Command) -> list[str]:
    """A command's shown output as lines to compare: right-stripped, without trailing blank
    lines."""
    shown = [text.rstrip() for _, text in command.shown]
    while shown and not shown[-1]:
        shown.pop()
    return shown


def _segments(shown: list[str]) -> list[list[int]]:
    """Indices of the shown lines between ``...`` lines (empty lists at the ends kept)."""
    segments: list[list[int]] = [[]]
    for k, line in enumerate(shown):
        if line.strip() == _ELLIPSIS:
            segments.append([])
        else:
            segments[-1].append(k)
    return segments


def align(shown: list[str], printed: list[str]) -> dict[int, int] | tuple[int | None, int | None]:
    """Find the printed line of every shown line.

    Without ``...`` lines the shown lines are the whole output, line for line. A ``...``
    line stands for any number of printed lines; each run of shown lines between them must
    appear as consecutive printed lines, in order; the first run starts the output unless the
    shown output starts with ``...``, the last ends it unless it ends with ``...``.

    Parameters
    ----------
    shown : list of str
        The shown lines (trailing blank lines removed).
    printed : list of str
        The printed lines (`printed_lines`).

    Returns
    -------
    dict or tuple
        {shown index: printed index} when every shown line has its printed line. Otherwise
        (shown index, printed index) of the first disagreement: the shown line without its
        printed line and where it was looked for (None: nowhere left, or a run not found),
        or (None, printed index) for a printed line the shown output does not have.
    """
    if not shown:
        return {} if not printed else (None, 0)
    segments = _segments(shown)

    def failure(seg: list[int], at: int) -> tuple[int, int | None] | None:
        for n, k in enumerate(seg):
            if at + n >= len(printed):
                return (k, None)
            if not corresponds(shown[k], printed[at + n]):
                return (k, at + n)
        return None

    mapping: dict[int, int] = {}
    pos = 0
    for s, seg in enumerate(segments):
        if not seg:
            continue
        first, last = s == 0, s == len(segments) - 1
        if first or last:
            at = 0 if first else len(printed) - len(seg)
            if at < pos:
                return (seg[0], None)
            problem = failure(seg, at)
            if problem is not None:
                return problem
            if first and last and len(seg) < len(printed):
                return (None, len(seg))
        else:
            for at in range(pos, len(printed) - len(seg) + 1):
                if failure(seg, at) is None:
                    break
            else:
                return (seg[0], None)
        for n, k in enumerate(seg):
            mapping[k] = at + n
        pos = at + len(seg)
    return mapping


def compare(command: Command, printed: list[str]) -> list[str]:
    """What differs between the shown output of a command and what it printed.

    Parameters
    ----------
    command : Command
        A console command with its shown output.
    printed : list of str
        The printed lines (`printed_lines`).

    Returns
    -------
    list of str
        One message per difference (empty: they agree).
    """
    numbers = [n for n, _ in command.shown]
    shown = shown_lines(command)
    found = align(shown, printed)
    if isinstance(found, tuple):
        k, at = found
        if k is None:
            return [f"printed more lines than shown (no `...` line there); "
                    f"the first not shown:\n      printed line {at + 1}: {printed[at]}"]
        near = difflib.get_close_matches(shown[k].strip(), [p.strip() for p in printed], 1, 0.3)
        here = (f"printed line {at + 1}: {printed[at]}" if at is not None
                else "printed: (no corresponding line)")
        return [f"line {numbers[k]}: shown line not printed (its text differs)\n"
                f"      shown:   {shown[k]}\n"
                f"      {here}\n"
                f"      closest printed line: {near[0] if near else '(none)'}"]
    messages = []
    for k, at in found.items():
        diff = number_differences(shown[k], corresponds(shown[k], printed[at]))
        if diff:
            changes = ", ".join(f"{a} -> {b}" for a, b in diff)
            messages.append(f"line {numbers[k]}: numbers differ ({changes})\n"
                            f"      shown:   {shown[k]}\n"
                            f"      printed: {printed[at]}")
    return messages


def resync(command: Command, printed: list[str]) -> list[str]:
    """The shown output of a command rewritten to what it printed.

    Parameters
    ----------
    command : Command
        A console command whose shown output is to be rewritten.
    printed : list of str
        What it printed now (`printed_lines`).

    Returns
    -------
    list of str
        New shown lines: unchanged where the compared numbers agree; ``...`` lines kept; a
        line with ``...`` inside it gets the printed numbers in place; other lines as printed.
        Where the text no longer corresponds, the whole output (a run of lines before and
        after a single ``...`` keeps its length).
    """
    shown = shown_lines(command)
    found = align(shown, printed)
    if isinstance(found, dict):
        out = []
        for k, line in enumerate(shown):
            if k not in found:
                out.append(line)
                continue
            match = corresponds(line, printed[found[k]])
            if not number_differences(line, match):
                out.append(line)
            elif _ELLIPSIS in line:
                out.append(_substitute(line, match))
            else:
                out.append(printed[found[k]])
        return out
    segments = _segments(shown)
    if len(segments) == 2 and len(segments[0]) + len(segments[1]) < len(printed):
        head = printed[:len(segments[0])]
        tail = printed[len(printed) - len(segments[1]):] if segments[1] else []
        return [*head, _ELLIPSIS, *tail]
    return list(printed)


def _substitute(shown: str, match: re.Match[str]) -> str:
    """The shown line with its numbers replaced by the printed ones, text kept."""
    printed = iter(match.groups())
    return _NUMBER_RE.sub(lambda m: next(printed), shown)
