"""Chat over documents: ingest, chunk, embed, index (BM25 + FAISS), retrieve with
weighted reciprocal rank fusion, build cited prompts, and evaluate answers.

Nothing here imports torch, sentence-transformers, faiss or pypdf at import time:
each is imported inside the function that needs it.
"""
