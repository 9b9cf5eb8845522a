"""Running a model: the event protocol and its codec, the generation parameters, the
backends (llama.cpp, transformers, OpenAI-compatible servers), worker processes,
the memory check before a load, the duel, stats and the session recorder."""
