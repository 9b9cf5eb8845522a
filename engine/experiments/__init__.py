"""Experiments: long jobs that run one or more models over a text, a question set or a
ladder of quantizations and report on them. One folder per experiment: bench (llama-bench's
tests), fidelity (KLD and PPL against a reference), quant (the quantization matrix),
evaluate (question sets over documents); memory_probe and the shared report writer
beside them."""
