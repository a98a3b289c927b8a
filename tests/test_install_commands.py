"""The README's two set-up commands and CI agree: CI runs exactly the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The command lines of the README's "The two commands" code block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The two commands", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_has_two_commands_that_make_their_own_venv():
    install, tests = readme_commands()
    assert install.startswith("python3 -m venv .venv && ") and install.endswith("capexgap quote")
    assert tests.startswith("python3 -m venv .venv && ") and tests.endswith("-m pytest")
    assert '".[test]"' in tests


def test_ci_runs_exactly_the_readme_test_command_in_a_new_venv():
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if line and not line.startswith("#")]
    # The venv is removed first, so every CI run starts from a brand-new one.
    assert body[-2:] == ["rm -rf .venv", readme_commands()[1]]


def test_extras_used_by_the_readme_exist():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "test" in meta["project"]["optional-dependencies"]
    assert meta["project"]["scripts"]["capexgap"] == "engine.cli:run"


def test_every_package_folder_ships_in_the_wheel():
    # pyproject lists the packages by name: a new subpackage left out of the list would work
    # in an editable install (and so in CI) but be missing from `pip install .`.
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for top in ("engine", "distributions") for p in (ROOT / top).rglob("__init__.py")}
    assert found <= listed, f"not shipped: {sorted(found - listed)}"
