"""Model architecture inspection.

``inspect_source(src)`` takes a GGUF file, a Hugging Face model folder, a bare
``config.json``, a registry name, a LoRA adapter (PEFT folder or GGUF), or an
``hf:PATH?quant=..`` spec that loads the model with transformers, and returns a
``ModelSummary`` (an ``AdapterSummary`` for adapters) with the same fields for every
source ("—" where a source cannot tell).

Only ``hf:`` specs load weights. ``tree=True`` adds the module tree: built on the
meta device for configs (transformers, no weights), read from the tensor table for
GGUF files. A config whose family the fast config reader does not know is built on
the meta device in any case.
"""

from .adapter import AdapterSummary
from .source import inspect_loaded, inspect_source
from .summary import ModelSummary, Projection

__all__ = ["inspect_source", "inspect_loaded", "AdapterSummary", "ModelSummary", "Projection"]
