"""Every command shown in README.md and docs/*.md runs, and prints the numbers shown.

The convention the pages follow (console blocks, skip markers, `# exit code N`, `...`) is in
tests/docs_pages.py, the comparison rules in tests/docs_compare.py; tests/docs_commands.py
runs the commands and also rewrites the shown output (`python tests/docs_commands.py
--update`).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docs_commands as dc  # noqa: E402
import docs_compare as cmp  # noqa: E402

PAGES = dc.pages()


def _parse(page: Path) -> list[dc.Block] | ValueError:
    try:
        return dc.parse_page(page)
    except ValueError as err:  # reported by test_page_follows_the_convention
        return err


PARSED = {page: _parse(page) for page in PAGES}
BLOCKS = {page: blocks for page, blocks in PARSED.items() if isinstance(blocks, list)}
RUN = [page for page, blocks in BLOCKS.items() if any(b.skip is None for b in blocks)]
SKIPPED = [b for blocks in BLOCKS.values() for b in blocks if b.skip is not None]


def _name(page: Path) -> str:
    return page.relative_to(dc.ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_page_follows_the_convention(page):
    dc.parse_page(page)


# Each command is a fresh process (a couple of seconds with a warm kernel cache): a page takes
# 10-50 s, all of them two to three minutes on 2 cores.
@pytest.mark.slow
@pytest.mark.parametrize("page", RUN, ids=_name)
def test_page_commands_print_what_the_page_shows(page):
    blocks, outcomes = dc.run_page(page)
    assert outcomes, f"{_name(page)}: no command ran"
    problems = [p for block, outcome in outcomes for p in dc.check(block, outcome)]
    assert not problems, (
        f"{len(problems)} difference(s) between {_name(page)} and what its commands print "
        "(after the other changes land, `python tests/docs_commands.py --update` re-syncs the "
        "shown output):\n\n" + "\n\n".join(problems))


@pytest.mark.parametrize("block", SKIPPED, ids=lambda b: f"{b.page}:{b.start}")
def test_skipped_block(block):
    # Listed (pytest -ra) with the page's reason, so every unrun block is visible.
    assert block.skip.strip()
    pytest.skip(f"{block.page}:{block.start}: {block.skip}")


def test_the_pages_show_commands_that_run():
    # The collector finds the blocks: a console block with output, and at least one per page
    # that shows capexgap at work, so a broken parser cannot pass by finding nothing.
    console = [c for b in BLOCKS[dc.ROOT / "README.md"] if b.lang == "console"
               for c in b.commands]
    assert console and all(c.shown for c in console)
    assert len(RUN) >= 5


# --------------------------------------------------------------------- the comparison rules


def _command(shown: str, text: str = "capexgap quote") -> dc.Command:
    lines = shown.splitlines()
    return dc.Command(1, text, "shell", 0, [(n + 2, line) for n, line in enumerate(lines)])


def _agrees_until_a_number_changes(shown: str, printed: str, old: str, new: str) -> None:
    """The printed line agrees with the shown one, and no longer does once its compared number
    `old` is printed as `new`."""
    assert cmp.compare(_command(shown), [printed]) == []
    assert cmp.compare(_command(shown), [printed.replace(old, new)])


def test_numbers_compare_as_printed():
    shown = "P = 0.161%  (95% CI 0.153% to 0.169%; 1,606 of 1,000,000 trials), gap -2.4 to 5.89e-10"
    assert cmp.compare(_command(shown), [shown]) == []
    for old, new in [("0.161%", "0.16%"), ("1,606", "1606"), ("-2.4", "2.4"),
                     ("5.89e-10", "5.9e-10")]:
        problems = cmp.compare(_command(shown), [shown.replace(old, new, 1)])
        assert len(problems) == 1 and f"{old} -> {new}" in problems[0], problems


def test_numbers_inside_words_are_text():
    assert [n for n, _ in cmp._numbers("configs/ai-capex-2024.toml S2023 2024-2032")] == [
        "2024", "2024", "2032"]


def test_timings_and_thread_counts_are_not_compared():
    shown = '1,000,000 trials, seed 2024, 0.27 s on 2 threads; 31.5 ns/trial, "elapsed_s": 0.5'
    printed = '1,000,000 trials, seed 2024, 1.93 s on 16 threads; 40.1 ns/trial, "elapsed_s": 2.1'
    _agrees_until_a_number_changes(shown, printed, "2024", "2025")
    one_cpu = printed.replace("16 threads", "1 thread")
    _agrees_until_a_number_changes(shown, one_cpu, "2024", "2025")
    assert cmp.compare(_command(shown), [one_cpu.replace("thread", "core")])


def test_the_cold_cache_compile_note_is_left_out():
    printed = cmp.printed_lines(
        "4,096 trials, seed 1, 0.01 s on 2 threads (plus 9.3 s to compile the kernels once; "
        "they are now cached)\n\n")
    assert printed == ["4,096 trials, seed 1, 0.01 s on 2 threads"]


def test_changed_text_is_reported_with_the_closest_printed_line():
    problems = cmp.compare(_command("alpha 1\nbeta 2"), ["alpha 1", "gamma 2"])
    assert len(problems) == 1
    assert "line 3" in problems[0] and "shown:   beta 2" in problems[0]
    assert "printed line 2: gamma 2" in problems[0]


def test_every_printed_line_is_shown_unless_left_out():
    assert cmp.compare(_command("a 1"), ["a 1", "b 2"])
    assert cmp.compare(_command("a 1\n..."), ["a 1", "b 2", "c 3"]) == []
    assert cmp.compare(_command("...\nc 3"), ["a 1", "b 2", "c 3"]) == []
    assert cmp.compare(_command("a 1\n...\nc 3"), ["a 1", "c 3"]) == []
    assert cmp.compare(_command("a 1\n...\nc 3"), ["a 1", "b 2", "c 3"]) == []
    assert cmp.compare(_command("a 1\n...\nb 2\n...\nd 4"), ["a 1", "b 2", "c 3", "d 4"]) == []
    # The runs keep their order and the ends stay anchored.
    assert cmp.compare(_command("b 2\n...\na 1"), ["a 1", "b 2"])
    assert cmp.compare(_command("a 1\n...\nb 2"), ["a 1", "b 2", "c 3"])
    # A number in a line after `...` is still compared.
    assert cmp.compare(_command("a 1\n...\nc 3"), ["a 1", "b 2", "c 4"])


def test_text_left_out_of_a_line():
    shown = "error: keys here: gpu_spend, ... Did you mean `margin`? (got 1.0)"
    printed = "error: keys here: gpu_spend, energy_ratio 2, margin. Did you mean `margin`? (got 1.0)"
    _agrees_until_a_number_changes(shown, printed, "1.0", "1.5")


def test_resync_keeps_what_agrees_and_takes_the_rest_from_the_output():
    shown = "head 1\nrow 0.27 s on 2 threads, 5 hits\n...\nlong 1.0 ... tail 7\nend 9"
    printed = ["head 2", "row 0.31 s on 2 threads, 5 hits", "extra 3",
               "long 1.5 middle text 8 tail 7", "end 9"]
    new = cmp.resync(_command(shown), printed)
    assert new == ["head 2", "row 0.27 s on 2 threads, 5 hits", "...", "long 1.5 ... tail 7",
                   "end 9"]
    assert cmp.compare(_command("\n".join(new)), printed) == []


def test_resync_of_changed_text_keeps_the_length_of_each_end():
    shown = "one 1\ntwo 2\n...\nlast 9"
    printed = ["One: 1", "Two: 2", "three 3", "four 4", "Last: 9"]
    assert cmp.resync(_command(shown), printed) == ["One: 1", "Two: 2", "...", "Last: 9"]


def test_a_command_shown_printing_nothing_must_print_nothing():
    assert cmp.compare(_command(""), []) == []
    assert cmp.compare(_command(""), ["surprise 1"])


PAGE = """Intro.

```console
$ printf 'total 3 of 4\\nmiddle 5\\nend 6\\n'
total 2 of 4
...
end 6
$ echo made 7 > out.txt
$ cat out.txt
$ sh -c 'echo no; exit 3'   # exit code 3
no
```

```bash
test -f out.txt
```

```python
print(open("out.txt").read())
```
"""


def test_run_check_and_update_a_page(tmp_path):
    (tmp_path / "configs").mkdir()
    page = tmp_path / "page.md"
    page.write_text(PAGE, encoding="utf-8")
    blocks, outcomes = dc.run_page(page, tmp_path)
    problems = [p for block, outcome in outcomes for p in dc.check(block, outcome)]
    # The first command's number and the silent `cat` disagree; files persist across blocks.
    assert len(problems) == 2, problems
    assert "page.md:4: $ printf" in problems[0] and "2 -> 3" in problems[0]
    assert "page.md:9: $ cat out.txt" in problems[1] and "made 7" in problems[1]
    rewritten, unfixable = dc.update_page(page, tmp_path)
    assert len(rewritten) == 2 and unfixable == []
    text = page.read_text(encoding="utf-8")
    assert "total 3 of 4\n...\nend 6\n" in text and "$ cat out.txt\nmade 7\n$ sh" in text
    blocks, outcomes = dc.run_page(page, tmp_path)
    assert [p for block, outcome in outcomes for p in dc.check(block, outcome)] == []


def test_a_wrong_exit_code_is_reported_with_the_output(tmp_path):
    (tmp_path / "configs").mkdir()
    page = tmp_path / "page.md"
    page.write_text("```bash\necho oops 1; exit 4\n```\n", encoding="utf-8")
    blocks, outcomes = dc.run_page(page, tmp_path)
    [problem] = dc.check(*outcomes[0])
    assert "page.md:2" in problem and "exit code 4, expected 0" in problem and "oops 1" in problem
    assert dc.update_page(page, tmp_path)[1] == [problem]


def test_parse_console_shell_python_and_skip(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n"
        "```console\n$ capexgap quote x.toml   # exit code 2\ncapexgap: error: x\n"
        "$ echo 1\n1\n```\n\n"
        "<!-- docs-test: skip (installs packages) -->\n\n"
        "```bash\npip install .\n```\n\n"
        "- item\n\n  ```bash\n  # a comment\n  capexgap quote \\\n    --json\n  ```\n\n"
        "```python\nimport engine\n```\n\n"
        "```toml\n[scenario]\n```\n", encoding="utf-8")
    console, skipped, shell, python = dc.parse_page(page, tmp_path)
    assert [(c.line, c.text, c.exit_code, c.shown) for c in console.commands] == [
        (4, "capexgap quote x.toml   # exit code 2", 2, [(5, "capexgap: error: x")]),
        (6, "echo 1", 0, [(7, "1")])]
    assert skipped.skip == "installs packages" and skipped.lang == "bash"
    assert shell.indent == "  " and [c.text for c in shell.commands] == [
        "capexgap quote \\\n  --json"]
    assert python.commands[0].kind == "python" and python.commands[0].shown is None


@pytest.mark.parametrize("text, message", [
    ("```text\n$ capexgap quote\nout\n```\n", "tagged ```console"),
    ("<!-- docs-test: skip -->\n```bash\nls\n```\n", "needs a reason"),
    ("```python\n>>> 1 + 1\n2\n```\n", "not run"),
    ("```console\nout\n$ ls\n```\n", "starts with a `$ `"),
])
def test_blocks_that_break_the_convention_are_refused(tmp_path, text, message):
    page = tmp_path / "page.md"
    page.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        dc.parse_page(page, tmp_path)
