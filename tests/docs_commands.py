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

Whether what a command printed is what its page shows is decided by docs_compare.py
(numbers compared as printed, machine-dependent ones set aside).

Run as a script, ``python tests/docs_commands.py --update [PAGE ...]`` runs the pages'
commands and rewrites each console block's shown output with what the commands print now.
A shown line whose compared numbers are unchanged is kept as it is (so timings do not churn);
``...`` lines are kept, and a line with ``...`` inside it gets the new numbers in place.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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

from docs_compare import compare, printed_lines, resync, shown_lines
from docs_pages import ROOT, Block, Command, pages, parse_page

#: Per command; a cold kernel cache compiles everything once (about a minute on 2 cores).
TIMEOUT_S = 600


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
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=TIMEOUT_S)
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
