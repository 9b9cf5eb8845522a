"""One shape for every long job (``runtime/jobs.py``): bench, fidelity and the
quantization matrix run through the one CLI driver; Ctrl-C after the first progress
event gives the partial result, marked partial, and leaves no child process."""

from __future__ import annotations

import json

import psutil
import pytest

from llmbench.engine.experiments.bench.run import Bench, plan
from llmbench.engine.experiments.fidelity.run import Fidelity, read_text
from llmbench.engine.experiments.quant.matrix import QuantMatrix
from llmbench.engine.runtime.jobs import Finished, Job, Progress
from llmbench.tui.cli.jobs import drive


class CtrlCAfterFirstProgress:
    """A job as the driver sees it when Ctrl-C lands right after its first progress event."""

    def __init__(self, job: Job):
        self.job, self.progressed = job, 0

    def run(self):
        for item in self.job.run():
            yield item
            if isinstance(item[1] if isinstance(item, tuple) else item, Progress):
                self.progressed += 1
                raise KeyboardInterrupt

    def cancel(self) -> None:
        self.job.cancel()

    def close(self) -> None:
        self.job.close()

    def finish(self) -> dict:
        return self.job.finish()


def _children() -> list[str]:
    """This process's children, less multiprocessing's resource tracker (one per process, for good)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" not in cmd and child.status() != psutil.STATUS_ZOMBIE:
            out.append(cmd[:120])
    return out


def _bench(smollm2, tmp_path):
    return Bench([smollm2], plan([16], [8], [], [0]), read_text(None), reps=3)


def _fidelity(smollm2, tmp_path):
    return Fidelity(smollm2, [smollm2], read_text(None), ctx=64, chunks=6)


def _matrix(smollm2, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "Name a colour.", "answer": "Blue."}))
    # the base as it is and its Q8_0, scored against the ladder's F32: the fidelity pass reports Progress
    m = QuantMatrix(smollm2, questions, names=["gguf"], gguf_types=("Q8_0",), ctx=64, chunks=2)
    m.params = m.params.replace(max_tokens=4)
    return m


@pytest.mark.parametrize("make", [_bench, _fidelity, _matrix], ids=["bench", "fidelity", "quant-matrix"])
def test_ctrl_c_after_the_first_progress_gives_the_partial_result_and_no_child(make, smollm2, tmp_path, capsys):
    job = CtrlCAfterFirstProgress(make(smollm2, tmp_path))
    result = drive(job, bar_enabled=False, stopped="what finished")
    assert job.progressed == 1 and result["partial"] is True
    assert "llmbench: interrupted: what finished" in capsys.readouterr().err
    assert _children() == []


def test_every_job_has_the_one_shape(smollm2, tmp_path):
    for make in (_bench, _fidelity, _matrix):
        job = make(smollm2, tmp_path)
        assert all(callable(getattr(job, name, None)) for name in ("run", "cancel", "close", "finish")), job
        job.close()


def test_a_job_run_to_its_end_finishes_whole(smollm2, tmp_path):
    events = list(_bench(smollm2, tmp_path).run())
    assert isinstance(events[-1], Finished) and events[-1].result["partial"] is False
    assert any(isinstance(e, Progress) for e in events) and _children() == []
