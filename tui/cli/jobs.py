"""The one CLI driver of a long engine job: its progress under a bar, its result, and
on Ctrl-C (or SIGTERM, SIGHUP) the job stopped, its processes closed, and what it
finished (marked partial by the job). A command then prints that result, marked
PARTIAL, and exits with ``INTERRUPTED`` (``exit_code``)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from llmbench.engine.jobs import Finished, Job, JobResult, Progress, interrupted

from ..render.progress import progress_bar

INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def exit_code(result: JobResult, failed: bool = False) -> int:
    """130 when the job was interrupted (its result partial), 1 when something failed, else 0."""
    return INTERRUPTED if result.interrupted else int(bool(failed))


def drive(job: Job, bar_enabled: bool, stopped: str, on_event: Callable[[object], None] | None = None) -> JobResult:
    """Any job (``engine.jobs.Job``) under a progress bar: its ``Finished`` result, or on
    Ctrl-C the job stopped, its processes closed, and what it finished (marked partial
    by the job, and ``interrupted``). ``Progress`` feeds the bar (when it is shown); every other event goes to ``on_event``
    (a job with channels yields ``(channel, event)``)."""
    result = None
    try:
        with progress_bar(bar_enabled) as bar:
            for item in job.run():
                event = item[1] if isinstance(item, tuple) else item
                if isinstance(event, Finished):
                    result = event.result
                elif isinstance(event, Progress) and bar_enabled:
                    bar(event)
                elif on_event is not None:
                    on_event(item)
    except KeyboardInterrupt:
        job.cancel()
        result = interrupted(job.finish())
        print(f"llmbench: interrupted: {stopped}", file=sys.stderr)
    finally:
        job.close()
    return result
