"""The one CLI driver of a long engine job: its progress under a bar, its result, and
on Ctrl-C the job stopped, its processes closed, and what it finished (marked partial
by the job)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from llmbench.engine.runtime.jobs import Finished, Job, Progress

from ..render.progress import progress_bar


def drive(job: Job, bar_enabled: bool, stopped: str, on_event: Callable[[object], None] | None = None) -> dict:
    """Any job (``runtime.jobs.Job``) under a progress bar: its ``Finished`` result, or on
    Ctrl-C the job stopped, its processes closed, and what it finished (marked partial
    by the job). ``Progress`` feeds the bar; every other event goes to ``on_event``
    (a job with channels yields ``(channel, event)``)."""
    result = None
    try:
        with progress_bar(bar_enabled) as bar:
            for item in job.run():
                event = item[1] if isinstance(item, tuple) else item
                if isinstance(event, Finished):
                    result = event.result
                elif isinstance(event, Progress):
                    bar(event)
                elif on_event is not None:
                    on_event(item)
    except KeyboardInterrupt:
        job.cancel()
        result = job.finish()
        print(f"llmbench: interrupted: {stopped}", file=sys.stderr)
    finally:
        job.close()
    return result
