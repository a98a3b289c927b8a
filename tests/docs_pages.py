"""The pages whose commands are run (README.md, docs/*.md) and the blocks that hold them.

The pages follow one convention, which this module reads:

- A ```` ```console ```` block is a terminal session: a line starting with ``$ `` is a
  command, and the lines after it, up to the next ``$ `` line or the end of the block, are
  what it prints (stdout and stderr together, as on a terminal). A line that is only ``...``
  stands for printed lines left out (any number, none included); ``...`` inside a line stands
  for text left out of that line.
- A ```` ```bash ````, ```` ```sh ```` or ```` ```shell ```` block holds commands only:
  every line that is neither blank nor a comment is a command; its output is not shown and
  not compared.
- A ```` ```python ```` block is run as one script by the environment's Python.
- A command ending in ``# exit code N`` must exit with status N; every other command (and
  every python block) must exit with 0.
- ``<!-- docs-test: skip (reason) -->`` on the lines just before a block (blank lines
  between are allowed) leaves the whole block unrun; the reason is required and is reported.
- Other blocks (``text``, ``toml``, no language) are not run. A block whose first line starts
  with ``$ `` must be a ``console`` block.

How the commands are run: docs_commands.py; how their output is compared: docs_compare.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_EXIT_CODE = re.compile(r"#\s*exit code (\d+)\s*$")
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*(?:\((.*)\))?\s*-->")
_FENCE = re.compile(r"^(\s*)```(\S*)\s*$")

SHELL_LANGS = ("bash", "sh", "shell")


@dataclasses.dataclass
class Command:
    """One command shown in a page.

    Attributes
    ----------
    line : int
        1-based line number of the command in its page.
    text : str
        The command (shell line, or python source for a python block).
    kind : str
        ``"shell"`` or ``"python"``.
    exit_code : int
        The exit status the command must give.
    shown : list of (int, str) or None
        The shown output with the page's line numbers (console blocks), or None (no output
        shown: not compared).
    """

    line: int
    text: str
    kind: str
    exit_code: int = 0
    shown: list[tuple[int, str]] | None = None


@dataclasses.dataclass
class Block:
    """One fenced code block of a page that holds commands.

    Attributes
    ----------
    page : str
        The page, relative to the repository root.
    lang : str
        The block's language tag.
    start : int
        1-based line number of the opening fence.
    end : int
        1-based line number of the closing fence.
    indent : str
        The fence's indentation (a block inside a list item).
    commands : list of Command
        The block's commands, in order.
    skip : str or None
        The reason given by a skip marker, or None when the block runs.
    """

    page: str
    lang: str
    start: int
    end: int
    indent: str
    commands: list[Command]
    skip: str | None = None


def pages(root: Path = ROOT) -> list[Path]:
    """The pages whose commands are run: README.md and docs/*.md.

    Parameters
    ----------
    root : Path
        The repository root.

    Returns
    -------
    list of Path
        The pages, README.md first, then docs/ in name order.
    """
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def _fences(lines: Sequence[str]) -> Iterable[tuple[int, int, str, str]]:
    """(opening index, closing index, indentation, language) of every fenced block."""
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            if j == len(lines):
                raise ValueError(f"line {i + 1}: code block never closed")
            yield i, j, m.group(1), m.group(2)
            i = j
        i += 1


def _skip_reason(lines: Sequence[str], start: int, where: str) -> str | None:
    """The reason of a skip marker just before the block opening at index ``start``."""
    i = start - 1
    while i >= 0 and not lines[i].strip():
        i -= 1
    if i < 0:
        return None
    m = _SKIP.search(lines[i])
    if not m:
        return None
    reason = (m.group(1) or "").strip()
    if not reason:
        raise ValueError(f"{where}: a skip marker needs a reason: <!-- docs-test: skip (why) -->")
    return reason


def _exit_code(command: str) -> int:
    m = _EXIT_CODE.search(command)
    return int(m.group(1)) if m else 0


def _shell_commands(body: list[tuple[int, str]]) -> list[Command]:
    """Commands of a bash block: every line neither blank nor a comment (``\\`` joins lines)."""
    commands: list[Command] = []
    pending: tuple[int, str] | None = None
    for number, text in body:
        if pending is not None:
            text = pending[1] + "\n" + text
            number = pending[0]
            pending = None
        elif not text.strip() or text.lstrip().startswith("#"):
            continue
        if text.endswith("\\"):
            pending = (number, text)
            continue
        commands.append(Command(number, text, "shell", _exit_code(text)))
    return commands


def _console_commands(body: list[tuple[int, str]], where: str) -> list[Command]:
    """Commands of a console block, each with the lines shown after it."""
    commands: list[Command] = []
    for number, text in body:
        if text.startswith("$ "):
            command = text[2:]
            commands.append(Command(number, command, "shell", _exit_code(command), []))
        elif not commands:
            raise ValueError(f"{where}: a console block starts with a `$ ` command line")
        else:
            commands[-1].shown.append((number, text))
    return commands


def parse_page(path: Path, root: Path = ROOT) -> list[Block]:
    """The blocks of a page that hold commands, in page order.

    Parameters
    ----------
    path : Path
        The page.
    root : Path
        The repository root (pages are named relative to it).

    Returns
    -------
    list of Block
        Console, shell and python blocks; skipped ones carry their reason.

    Raises
    ------
    ValueError
        A block breaks the convention (a ``$ `` line outside a console block, a skip marker
        without a reason, a ``>>>`` session in a python block, an unclosed block).
    """
    page = path.relative_to(root).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    for i, j, indent, lang in _fences(lines):
        where = f"{page}:{i + 1}"
        body = [(k + 1, lines[k][len(indent):] if lines[k].startswith(indent)
                 else lines[k].lstrip())
                for k in range(i + 1, j)]
        first = next((text for _, text in body if text.strip()), "")
        if lang == "console":
            commands = _console_commands(body, where)
        elif lang in SHELL_LANGS:
            commands = _shell_commands(body)
        elif lang == "python":
            if any(text.startswith(">>>") for _, text in body):
                raise ValueError(f"{where}: `>>>` sessions are not run; show a script and, "
                                 "for output, a console block")
            source = "\n".join(text for _, text in body) + "\n"
            commands = [Command(i + 2, source, "python")]
        elif first.startswith("$ "):
            raise ValueError(f"{where}: a block of `$ ` commands and output is tagged "
                             f"```console, not ```{lang}")
        else:
            continue
        skip = _skip_reason(lines, i, where)
        blocks.append(Block(page, lang, i + 1, j + 1, indent, commands, skip))
    return blocks
