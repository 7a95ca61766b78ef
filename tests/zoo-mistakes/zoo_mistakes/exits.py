"""A plugin that calls sys.exit() while it is imported, as a script-turned-plugin might."""

raise SystemExit(3)
