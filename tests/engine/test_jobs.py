"""One shape for every long job (``engine/jobs.py``): bench, fidelity and the
quantization matrix run through the one CLI driver; Ctrl-C after the first progress
event gives the partial result, marked partial, and leaves no child process."""

from __future__ import annotations

import json
from dataclasses import dataclass

import psutil
import pytest

from llmbench.engine.experiments.bench.run import Bench, plan
from llmbench.engine.experiments.evaluate.questions import Question
from llmbench.engine.experiments.evaluate.run import Evaluation
from llmbench.engine.experiments.fidelity.run import Fidelity, read_text
from llmbench.engine.experiments.quant.matrix import QuantMatrix
from llmbench.engine.jobs import Finished, Job, JobResult, Progress, ThreadJob
from llmbench.engine.models.quantize import quantize_job
from llmbench.engine.rag import collection as coll
from llmbench.engine.rag.retrieve import Retriever
from llmbench.engine.runtime.duel import Duel
from llmbench.engine.runtime.events import Token
from llmbench.engine.runtime.params import GenParams
from llmbench.tui.cli.jobs import INTERRUPTED, drive, exit_code
from tests.helpers import PAGES, write_pdf


class CtrlCAfterFirstProgress:
    """A job as the driver sees it when Ctrl-C lands right after its first progress event."""

    def __init__(self, job: Job, first=Progress):
        self.job, self.first, self.progressed = job, first, 0

    def run(self):
        for item in self.job.run():
            yield item
            if isinstance(item[1] if isinstance(item, tuple) else item, self.first):
                self.progressed += 1
                raise KeyboardInterrupt

    def cancel(self) -> None:
        self.job.cancel()

    def close(self) -> None:
        self.job.close()

    def finish(self) -> JobResult:
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


def _quantize(smollm2, tmp_path):
    return quantize_job(smollm2.removeprefix("gguf:"), "Q8_0", tmp_path / "out.gguf", threads=1)


def _duel(smollm2, tmp_path):
    duel = Duel(smollm2, smollm2, GenParams(max_tokens=48, temperature=0), mode="concurrent", record=False)
    return duel.job("Count from one to forty in words.")


def _index(embedder, tmp_path):
    write_pdf(tmp_path / "manual.pdf", PAGES)
    return coll.index_job("manual", [tmp_path / "manual.pdf"], embedder=embedder)


def _evaluate(embedder, tmp_path, smollm2=None, collection="demo"):
    questions = [Question(f"q{i}", "How long is the warranty?", "Five years.", "manual.pdf", 1) for i in range(3)]
    return Evaluation(collection, questions, smollm2, params=GenParams(max_tokens=4, temperature=0),
                      retriever=Retriever.open(collection, embedder), k=1)  # fmt: skip


FAST_JOBS = {"bench": _bench, "fidelity": _fidelity, "quant-matrix": _matrix, "quantize": _quantize, "duel": _duel}


@pytest.mark.parametrize("name", FAST_JOBS)
def test_ctrl_c_after_the_first_progress_gives_the_partial_result_and_no_child(name, smollm2, tmp_path, capsys):
    job = CtrlCAfterFirstProgress(FAST_JOBS[name](smollm2, tmp_path), first=Token if name == "duel" else Progress)
    result = drive(job, bar_enabled=False, stopped="what finished")
    assert job.progressed == 1 and result.partial and result.interrupted and exit_code(result) == INTERRUPTED
    assert result.to_json()["interrupted"] is True and json.dumps(result.to_json(), default=str)
    assert "llmbench: interrupted: what finished" in capsys.readouterr().err
    assert _children() == []
    if name == "quantize":  # nothing written, not even a hidden partial
        assert result.out is None and list(tmp_path.glob("*out.gguf*")) == []
    if name == "duel":  # the answers as far as they came
        assert all(c["finish_reason"] in ("cancelled", None) for c in result.contestants)
        assert any(c["text"] for c in result.contestants)


@pytest.mark.slow
def test_indexing_and_evaluation_stopped_after_their_first_progress(smollm2, embedder, demo_collection, tmp_path):
    job = CtrlCAfterFirstProgress(_index(embedder, tmp_path))
    result = drive(job, bar_enabled=False, stopped="the collection is as it was")
    assert result.partial and result.added == [] and "as it was" in result.note
    assert "manual" not in [c["name"] for c in coll.list_collections()]  # a whole new version, or nothing

    job = CtrlCAfterFirstProgress(_evaluate(embedder, tmp_path, smollm2, demo_collection))
    result = drive(job, bar_enabled=False, stopped="the questions so far")
    assert result.partial and len(result.rows) == 1 and result.questions == 3
    assert _children() == []


def test_every_job_has_the_one_shape(smollm2, tmp_path):
    for make in FAST_JOBS.values():
        job = make(smollm2, tmp_path)
        assert all(callable(getattr(job, name, None)) for name in ("run", "cancel", "close", "finish")), job
        job.close()


def test_a_job_run_to_its_end_finishes_whole(smollm2, tmp_path):
    events = list(_bench(smollm2, tmp_path).run())
    assert isinstance(events[-1], Finished) and events[-1].result.partial is False
    assert "interrupted" not in events[-1].result.to_json(), "said only of a run a driver stopped"
    assert any(isinstance(e, Progress) for e in events) and _children() == []
    events = list(_quantize(smollm2, tmp_path).run())
    assert isinstance(events[-1], Finished) and events[-1].result.type == "Q8_0"
    assert (tmp_path / "out.gguf").stat().st_size == events[-1].result.bytes == events[-1].result.to_json()["bytes"]
    assert any(isinstance(e, Progress) and e.unit == "B" for e in events)


def test_a_thread_job_raises_its_error_and_finishes_whole_when_done_before_a_cancel():
    def fails(progress, cancelled):
        progress(Progress("step", 1, 2))
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        list(ThreadJob(fails, Count).run())
    done = ThreadJob(lambda progress, cancelled: Count(n=1), Count)
    assert list(done.run())[-1].result == Count(n=1, partial=False)
    done.cancel()  # too late: it ended whole
    assert done.finish().to_json() == {"partial": False, "n": 1}


@dataclass(kw_only=True)
class Count(JobResult):
    n: int = 0
