"""``capexgap configs`` (the bundled scenarios) and ``capexgap init`` (a starter config).

A bundled config is run by its name from any folder (``capexgap quote sequoia-600b-2024``):
:func:`engine.io.config.load_config` looks a missing path up among them.
"""

from __future__ import annotations

import argparse
import difflib
import json

from engine.base.errors import ConfigError
from engine.base.safetext import escape

CONFIGS_DESCRIPTION = """\
The scenarios shipped with capexgap. Run one by its name, from any folder:

  capexgap quote sequoia-600b-2024       (or sequoia-600b-2024.toml)
  capexgap sweep sweep-margin-life

A file of that name in the current folder wins over the bundled one. `capexgap init FILE
--from NAME` copies one to edit."""

INIT_DESCRIPTION = """\
Write a starter config to edit: a commented copy of the bundled default scenario
(ai-capex-2024), or of another bundled config with --from NAME (`capexgap configs` lists
them). Refuses to overwrite an existing file without --force."""


def add_commands(sub) -> None:
    """Add ``configs`` and ``init`` to the ``capexgap`` sub-command parser."""
    formatter = argparse.RawDescriptionHelpFormatter
    c = sub.add_parser("configs", help="list the bundled scenarios (run one by its name)",
                       description=CONFIGS_DESCRIPTION, formatter_class=formatter)
    c.add_argument("--json", action="store_true",
                   help="print one JSON object: {\"configs\": [{name, title, model, "
                        "description, sweep}, ...]}")
    c.set_defaults(func=_configs)

    i = sub.add_parser("init", help="write a commented starter config to edit",
                       description=INIT_DESCRIPTION, formatter_class=formatter)
    i.add_argument("file", metavar="FILE.toml", help="the config file to write")
    i.add_argument("--from", dest="source", metavar="NAME",
                   help="the bundled config to copy (default: ai-capex-2024)")
    i.add_argument("--force", action="store_true",
                   help="overwrite FILE if it exists (otherwise refuse)")
    i.set_defaults(func=_init)


def _configs(args: argparse.Namespace) -> int:
    from engine.io.config import DEFAULT_CONFIG, bundled_configs

    found = bundled_configs()
    default = DEFAULT_CONFIG.removesuffix(".toml")
    if args.json:
        print(json.dumps({"default": default, "configs": [
            {"name": c.name, "title": c.title, "model": c.model, "description": c.description,
             "sweep": c.sweep} for c in found]}, ensure_ascii=False))
        return 0
    width = max([len(c.name) for c in found] + [4]) + 2
    lines = [f"{'name':<{width}}{'model':<16}title"]
    for c in found:
        kind = c.model + (" sweep" if c.sweep else "")
        mark = "  (default)" if c.name == default else ""
        lines.append(f"{c.name:<{width}}{kind:<16}{escape(c.title)}{mark}")
    lines += ["", "Run one by its name from any folder: `capexgap quote NAME` (a sweep: "
                  "`capexgap sweep NAME`); `capexgap init my.toml --from NAME` copies one to "
                  "edit."]
    print("\n".join(lines))
    return 0


def _init(args: argparse.Namespace) -> int:
    from engine.io.config import (DEFAULT_CONFIG, bundled_config_name, bundled_config_names,
                                  bundled_config_text)
    from engine.io.outfile import check_target, write_bytes

    name = DEFAULT_CONFIG if args.source is None else bundled_config_name(args.source)
    if name is None:
        stems = [n.removesuffix(".toml") for n in bundled_config_names()]
        close = difflib.get_close_matches(args.source.removesuffix(".toml"), stems, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        raise ConfigError(None, "--from", "is not the name of a bundled config", args.source,
                          f"Bundled configs: {', '.join(stems)} (`capexgap configs` describes "
                          f"them).{hint}")
    # Refused before anything is read or written; the write itself is atomic and still never
    # replaces a file that appeared meanwhile (without --force).
    check_target(args.file, args.force, option="FILE", action="written", example="my.toml")
    text = bundled_config_text(name)
    write_bytes(args.file, text.encode("utf-8"), force=args.force, option="FILE")
    stem = name.removesuffix(".toml")
    command = "sweep" if "\n[sweep]" in text else "quote"
    example = "scenario.trials=100000" if command == "sweep" else "margin=0.6"
    shown = escape(args.file)
    print(f"Wrote {shown}: a copy of the bundled {stem} scenario, with comments on every "
          "figure.\nNext: edit its values (docs/configs.md explains every key), then run "
          f"`capexgap {command} {shown}`.\nTry a change without editing: `capexgap {command} "
          f"{shown} --set {example}`.")
    return 0
