"""llmbench's engine: model specs, backends, worker processes, duels and sessions.

Importing this package is cheap: it loads no Textual, Rich, torch, transformers or
llama_cpp. Heavy libraries are imported inside the functions that need them.
"""

__version__ = "0.1.0"
