"""`llmbench bench`: llama-bench's tests (pp, tg, pg, depth) for every backend (run.py) and its outputs in llama-bench's formats (report.py)."""
