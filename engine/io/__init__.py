"""Input and output: TOML configs to scenarios, results to NetCDF and JSON, files written whole
or not at all, result files read safely. Dependency rule: every layer below (``engine.base``,
``engine.core``, ``engine.models``, ``engine.analyses``)."""
