"""Experiments that run many models or many questions and report on them: the batch
evaluation over documents and the quantization matrix."""
