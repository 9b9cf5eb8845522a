"""Checks that several test modules share."""

import re


def is_one_run_verdict(line: str) -> bool:
    """The verdict of one run each: speeds and no ratio, or none at all because one side ran
    on a busy host and the other on a quiet one (a test cannot choose how busy CI is)."""
    return line.startswith("one run each, no interval: ") or bool(
        re.match(r"no verdict: .+ ran on a busy host \(host busy: .+\), .+ on a quiet one", line)
    )
