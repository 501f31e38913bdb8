"""The front doors: the command line, TOML configuration, the registry of parts, plots."""
