"""`llmbench eval`: a question set over documents, answered and scored (run.py; questions.py reads the sets)."""
