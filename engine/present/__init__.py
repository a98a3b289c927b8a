"""Pictures of results (matplotlib, imported only when drawing). Dependency rule: every layer
below but the command line."""
