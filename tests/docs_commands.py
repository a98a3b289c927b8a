"""Run the commands shown in README.md and docs/*.md and compare the numbers they print.

The pages follow one convention (console blocks, skip markers, ``# exit code N``,
``...``), described in docs_pages.py, which reads it.

Every page runs in a fresh temporary folder of its own, its blocks in page order and each
command line in its own ``bash -c``, so a file one command writes (``--out run.nc``) is
there for the next commands of the same page and nothing is written into the repository.
A plain ``capexgap ARGS`` line (no pipe, redirection, expansion or second command) runs in
this process instead, through the console script's own ``engine.cli.main``, and so does a
python block (``exec`` in a fresh ``__main__``), stdout and stderr captured together: the
same output and exit code without a new interpreter's second or two of start-up per command
(the start-up itself is tested in tests/test_cli.py and tests/test_install_commands.py).
The folder holds ``configs``, a link to the repository's ``configs/``, so the paths the pages
show resolve. ``PATH`` starts with the folder of the running Python, so ``capexgap`` and
``python`` are this environment's.

A shown line and a printed line correspond when their text is the same once every number
is set aside (runs of spaces count as one space). Corresponding lines must carry the same
numbers, compared as printed (``0.161%``, ``1,606``, ``5.89e-10``), except where a number is
machine-dependent: a number of seconds or a rate (followed by ``s``, ``ms``, ``us``,
``ns``, ``ns/trial`` or ``trials/s``), a thread count (followed by ``thread``/``threads``,
either noun: a shown ``2 threads`` is printed ``1 thread`` on one CPU),
and a JSON value whose key ends in ``_s``. The note ``(plus N s to compile the kernels once;
they are now cached)``, printed only when the kernel cache is cold, is removed from the
printed lines before comparing.

Run as a script, ``python tests/docs_commands.py --update [PAGE ...]`` runs the pages'
commands and rewrites each console block's shown output with what the commands print now.
A shown line whose compared numbers are unchanged is kept as it is (so timings do not churn);
``...`` lines are kept, and a line with ``...`` inside it gets the new numbers in place.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path

from docs_pages import ROOT, Block, Command, pages, parse_page

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

#: Per command; a cold kernel cache compiles everything once (about a minute on 2 cores).
TIMEOUT_S = 600


# ------------------------------------------------------------------------ comparing output


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


# ------------------------------------------------------------------------------- running


@dataclasses.dataclass
class Outcome:
    """What one command did.

    Attributes
    ----------
    command : Command
        The command.
    returncode : int
        Its exit status.
    output : str
        stdout and stderr together, in the order written.
    """

    command: Command
    returncode: int
    output: str


def environment() -> dict[str, str]:
    """The environment the commands run in: this Python's folder first on PATH.

    Returns
    -------
    dict
        A copy of os.environ with PATH extended and Python's output unbuffered (so stdout
        and stderr interleave as on a terminal).
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def prepare_folder(folder: Path, root: Path = ROOT) -> None:
    """Make ``configs`` in ``folder`` a link to the repository's configs/.

    Parameters
    ----------
    folder : Path
        The page's working folder.
    root : Path
        The repository root.
    """
    (folder / "configs").symlink_to(root / "configs", target_is_directory=True)


def run_command(command: Command, folder: Path, env: dict[str, str]) -> Outcome:
    """Run one command in ``folder``, as typed in a shell there (or a python script).

    Parameters
    ----------
    command : Command
        The command.
    folder : Path
        The working folder.
    env : dict
        The environment (`environment`).

    Returns
    -------
    Outcome
        Its exit status and output.
    """
    argv = in_process_argv(command)
    if argv is not None or command.kind == "python":
        return _run_in_process(command, argv, folder)
    proc = subprocess.run(["bash", "-c", command.text], check=False, cwd=folder, env=env,
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT_S)
    return Outcome(command, proc.returncode, proc.stdout)


#: A line that runs in this process: ``capexgap`` and plain words (quotes allowed), then at
#: most a comment; anything a shell would interpret (``|``, ``>``, ``$``, ``;``, ``*``...) runs
#: in bash.
_PLAIN_CAPEXGAP = re.compile(r"""capexgap(?:\s+[\w./=,:+%'"@-]+)*\s*(?:#.*)?""")


def in_process_argv(command: Command) -> list[str] | None:
    """The arguments of a plain one-line ``capexgap`` command, or None (run it in bash)."""
    text = command.text.strip()
    if command.kind != "shell" or "\n" in text or not _PLAIN_CAPEXGAP.fullmatch(text):
        return None
    try:
        words = shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote: let bash say so
        return None
    return words[1:]


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python's own warning display, on the (captured) stderr of the moment."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _exec(text: str) -> int:
    """A python block as ``python -`` runs it: in a fresh ``__main__`` namespace, an
    uncaught exception printed as a traceback of ``<stdin>`` lines, exit status 1."""
    try:
        exec(compile(text, "<stdin>", "exec"), {"__name__": "__main__"})  # noqa: S102
    except Exception:  # noqa: BLE001 - python prints any error and exits 1
        traceback.print_exc()
        return 1
    return 0


def _run_in_process(command: Command, argv: list[str] | None, folder: Path) -> Outcome:
    """``capexgap ARGS`` run by ``engine.cli.main`` (``argv``), or a python block (``argv``
    None), in ``folder`` as the console script or ``python -`` would (an argparse exit or
    ``sys.exit`` gives its code), stdout and stderr captured together; the working folder,
    numba's thread count and the warning filters are restored after."""
    import numba

    from engine.cli import main

    buf = io.StringIO()
    here, threads = os.getcwd(), numba.get_num_threads()
    try:
        os.chdir(folder)
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), \
                warnings.catch_warnings():
            warnings.simplefilter("default")  # as a fresh interpreter shows them,
            warnings.showwarning = _show_warning  # on stderr (not to pytest's record)
            try:
                code = main(argv) if argv is not None else _exec(command.text)
            except SystemExit as exc:  # --help, --version, usage errors, sys.exit()
                code = exc.code if isinstance(exc.code, int) else \
                    (0 if exc.code is None else 1)
                if isinstance(exc.code, str):
                    print(exc.code, file=sys.stderr)
    finally:
        os.chdir(here)
        numba.set_num_threads(threads)
    return Outcome(command, code, buf.getvalue())


def check(block: Block, outcome: Outcome) -> list[str]:
    """Every way a command's outcome differs from what its page says.

    Parameters
    ----------
    block : Block
        The command's block.
    outcome : Outcome
        What the command did.

    Returns
    -------
    list of str
        Messages naming the page, the command's line, and each difference.
    """
    command = outcome.command
    if command.kind == "python":
        head = (f"{block.page}:{command.line}: python block (its line N, as in a traceback's "
                f"`<stdin>`, is page line {command.line} + N - 1)")
    else:
        head = f"{block.page}:{command.line}: $ {command.text.splitlines()[0]}"
    problems = []
    if outcome.returncode != command.exit_code:
        tail = "\n".join("      | " + line for line in outcome.output.splitlines()[-15:])
        problems.append(f"exit code {outcome.returncode}, expected {command.exit_code}; "
                        f"it printed (last lines):\n{tail}")
    elif command.shown is not None:
        # With the wrong exit code the output is an error: comparing it adds nothing.
        problems += compare(command, printed_lines(outcome.output))
    return [f"{head}\n  {p}" for p in problems]


def run_page(path: Path, root: Path = ROOT) -> tuple[list[Block], list[tuple[Block, Outcome]]]:
    """Run every block of a page that is not skipped, in order, in a fresh folder.

    Parameters
    ----------
    path : Path
        The page.
    root : Path
        The repository root.

    Returns
    -------
    blocks : list of Block
        The page's blocks (skipped ones included).
    outcomes : list of (Block, Outcome)
        Every command run, with its block.
    """
    blocks = parse_page(path, root)
    env = environment()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="capexgap-docs-") as tmp:
        folder = Path(tmp)
        prepare_folder(folder, root)
        for block in blocks:
            if block.skip is not None:
                continue
            for command in block.commands:
                outcomes.append((block, run_command(command, folder, env)))
    return blocks, outcomes


def update_page(path: Path, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """Rewrite the shown output of a page's console blocks with what the commands print now.

    Parameters
    ----------
    path : Path
        The page, rewritten in place.
    root : Path
        The repository root.

    Returns
    -------
    rewritten : list of str
        One note per command whose shown output was rewritten.
    problems : list of str
        What a rewrite cannot fix: commands that exit otherwise than their page says.
    """
    _, outcomes = run_page(path, root)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    replacements = []  # (first line index, last line index + 1, new lines)
    notes, problems = [], []
    for block, outcome in outcomes:
        command = outcome.command
        if outcome.returncode != command.exit_code:
            problems += check(block, outcome)
            continue
        if command.shown is None:
            continue
        new = resync(command, printed_lines(outcome.output))
        old = shown_lines(command)
        # Shown lines are replaced in place, trailing blank ones kept; output of a command
        # shown printing nothing goes right after the command.
        first, last = ((command.shown[0][0] - 1, command.shown[-1][0])
                       if command.shown else (command.line, command.line))
        last -= len(command.shown) - len(old)  # the trailing blank lines
        if new != old:
            notes.append(f"{block.page}:{command.line}: rewrote the output of `{command.text}`")
            replacements.append((first, last, [block.indent + x if x else "" for x in new]))
    for first, last, new in sorted(replacements, reverse=True):
        lines[first:last] = [x + "\n" for x in new]
    path.write_text("".join(lines), encoding="utf-8")
    return notes, problems


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: check the pages, or rewrite their shown output with ``--update``.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: sys.argv[1:]).

    Returns
    -------
    int
        0 when every command agrees with its page (or, with --update, exits as its page
        says), 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("pages", nargs="*", type=Path,
                        help="pages to run (default: README.md and docs/*.md)")
    parser.add_argument("--update", action="store_true",
                        help="rewrite the shown output of console blocks with today's output")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.pages] or pages()
    failed = False
    for path in paths:
        if args.update:
            notes, problems = update_page(path)
            failed |= bool(problems)
            for note in [*notes, *problems]:
                print(note)
            continue
        blocks, outcomes = run_page(path)
        for block in blocks:
            if block.skip is not None:
                print(f"{block.page}:{block.start}: skipped ({block.skip})")
        for block, outcome in outcomes:
            for problem in check(block, outcome):
                failed = True
                print(problem)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
