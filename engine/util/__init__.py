"""Small helpers every subsystem shares: files, formatting, statistics, child processes."""
