"""``--sampler`` and ``--replicates``, checked the same way for ``quote``, ``sweep`` and
``tornado``."""

from __future__ import annotations

import argparse


def check_sampler(args: argparse.Namespace) -> int | None:
    """The replicates of a ``--sampler sobol|lhs`` quote, sweep or tornado (None for plain
    Monte Carlo), after refusing the options it does not combine with."""
    from engine.analyses.qmc import DEFAULT_REPLICATES, check_replicates
    from engine.base.errors import ConfigError

    if args.sampler == "mc":
        if args.replicates is not None:
            raise ConfigError(None, "--replicates", "only applies with --sampler sobol or lhs",
                              args.replicates, "Add --sampler sobol, or drop --replicates.")
        return None
    if getattr(args, "method", "mc") == "importance":  # sweep and tornado have no --method
        raise ConfigError(None, "--method", f"importance cannot be combined with --sampler "
                          f"{args.sampler}", args.method, "Importance sampling is for rare "
                          "events; use --sampler mc with it (or --method auto/mc with "
                          f"{args.sampler}).")
    replicates = DEFAULT_REPLICATES if args.replicates is None else args.replicates
    check_replicates(replicates, "--replicates")
    return replicates
