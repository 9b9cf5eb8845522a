"""What a model is: specs, the registry and the demo models, pulling, the GGUF header
reader, loading with transformers, chat templates and the quantization methods.

The names most callers need are here: ``models.resolve(spec)``, ``models.pull(name)``,
``models.list_models()`` ...
"""

from .info import ModelInfo
from .pull import Pulled, pull
from .registry import (
    DEMO_MODELS,
    DemoModel,
    ModelEntry,
    add_model,
    demo_path,
    known_names,
    list_models,
    load_registry,
    read_registry,
    remove_model,
)
from .spec import describe_gguf, parse_spec, resolve, with_sha256

__all__ = [
    "DEMO_MODELS",
    "DemoModel",
    "ModelEntry",
    "ModelInfo",
    "Pulled",
    "add_model",
    "demo_path",
    "describe_gguf",
    "known_names",
    "list_models",
    "load_registry",
    "read_registry",
    "parse_spec",
    "pull",
    "remove_model",
    "resolve",
    "with_sha256",
]
