"""Record the sample sessions shipped in ``sessions/`` with the demo models.

    python scripts/record_samples.py        # replaces sessions/*.jsonl

A duel (SmolLM2 vs Gemma 3 270M, two prompts), a chat over the demo corpus with a
follow-up question, and an evaluation of both models on three demo questions.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sessions"


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, and nothing else
    os.environ["LLMBENCH_SESSIONS"] = str(SAMPLES)
    from llmbench.engine.experiments.evaluate.questions import load_questions
    from llmbench.engine.experiments.evaluate.run import Evaluation
    from llmbench.engine.rag.chat import RagChat
    from llmbench.engine.rag.demo import DEMO_COLLECTION, DEMO_QUESTIONS, ensure_demo
    from llmbench.engine.rag.retrieve import Retriever
    from llmbench.engine.runtime.duel import Duel
    from llmbench.engine.runtime.params import GenParams

    for old in SAMPLES.glob("*.jsonl"):
        old.unlink()
    params = GenParams(max_tokens=96, temperature=0.7, seed=42)
    with Duel("smollm2", "gemma3-270m", params, mode="sequential") as duel:
        for prompt in (
            "What is the capital of France? Answer in one sentence.",
            "Explain in two sentences what quantization does to a language model.",
        ):
            for _ in duel.run(prompt):
                pass
        print("duel:", duel.session_path)

    ensure_demo()
    retriever = Retriever.open(DEMO_COLLECTION)
    with RagChat(DEMO_COLLECTION, "smollm2", None, params.replace(max_tokens=128), retriever=retriever) as chat:
        for question in ("How do I install pypdf with AES support?", "And which Python versions does it support?"):
            for _ in chat.ask(question):
                pass
        print("chat:", chat.duel.session_path)

    questions = load_questions(DEMO_QUESTIONS)[:3]
    with Evaluation(
        DEMO_COLLECTION, questions, "smollm2", "gemma3-270m", params, retriever=retriever, mode="sequential"
    ) as ev:
        for _ in ev.run():
            pass
        print("eval:", ev.session_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
