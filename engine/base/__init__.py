"""Leaf modules every layer may use: user-facing errors, number formats, safe text, stop
requests. Dependency rule: the standard library only (and each other)."""
