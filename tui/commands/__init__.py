"""Headless commands, one module each: the CLI twins of the TUI tabs."""
