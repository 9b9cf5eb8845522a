"""The one CLI driver of a long engine job: its progress under a bar, its result, and
on Ctrl-C the job stopped, its processes closed, and what it finished (marked partial
by the job)."""

from __future__ import annotations

import sys

from ..render.progress import progress_bar


def drive(job, done_type: type, bar_enabled: bool, stopped: str) -> dict:
    """A batch engine job (fidelity, bench) under a progress bar: its result, or on
    Ctrl-C the job stopped and what it finished, marked partial by the job."""
    result = None
    try:
        with progress_bar(bar_enabled) as bar:
            for event in job.run():
                if isinstance(event, done_type):
                    result = event.result
                else:
                    bar(event)
    except KeyboardInterrupt:
        job.cancel()
        job.close()
        result = job.finish()
        print(f"llmbench: interrupted: {stopped}", file=sys.stderr)
    return result
