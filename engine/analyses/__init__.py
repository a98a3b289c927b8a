"""What users ask of a scenario: a quote (plain Monte Carlo, precision targets, importance
sampling), sweeps and the tornado. Dependency rule: ``engine.base``, ``engine.core`` and
``engine.models`` only."""
