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


def test_every_bundled_config_ships_in_the_wheel():
    # `capexgap configs` lists configs/ and `capexgap quote NAME` loads from it; after a plain
    # `pip install .` both read the package engine.configs, which holds what package-data's
    # globs match. A real non-editable install is not run here: it needs the build backend
    # (setuptools >= 68, fetched by pip's build isolation) and a build of the tree; the wheel
    # layout itself is exercised by test_configs_by_name.py::test_the_wheel_layout_is_read_too.
    from fnmatch import fnmatch

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"]["engine.configs"] == "configs"
    globs = tool["package-data"]["engine.configs"]
    files = [p.name for p in (ROOT / "configs").iterdir() if p.is_file()]
    assert files and all(any(fnmatch(f, g) for g in globs) for f in files), files
