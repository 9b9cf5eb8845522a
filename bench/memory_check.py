"""Check Inspect's memory estimates against what really loads here, for SmolLM2-135M.

For each format it loads the model in a fresh process and prints the estimated
weights and total next to the measured ones:
  * weights: the GGUF file llama.cpp maps / the bytes of the HF model's tensors
    (looking inside quantized tensors);
  * total: the process's RSS after loading, one short generation and malloc_trim,
    against the estimate's weights + KV cache + overhead (llama.cpp allocates the
    KV cache for the whole context; HF's grows with the 12 tokens used, so none).

Usage: python bench/memory_check.py [--ctx 2048]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, psutil, os
fmt, ctx = sys.argv[1], int(sys.argv[2])
from llmbench.engine import models
path = models.resolve("smollm2").path
proc = psutil.Process()
if fmt == "llama.cpp Q4_1":
    from llama_cpp import Llama
    llm = Llama(path, n_ctx=ctx, verbose=False, n_threads=2)
    llm("The capital of France is", max_tokens=8)
    weights = os.path.getsize(path)
else:
    import torch
    from llmbench.engine.models.hf_load import load_model, parse_hf_spec
    from llmbench.engine.inspect.modules import storage_bytes
    quant = {"HF fp32": "none", "HF bnb nf4": "bnb4", "HF bnb nf4+dq": "bnb4-dq", "HF bnb int8": "bnb8"}[fmt]
    dtype = "fp32" if quant == "none" else "bf16"
    base = proc.memory_info().rss
    loaded = load_model(parse_hf_spec(f"hf:{path}?quant={quant}&dtype={dtype}"))
    weights = storage_bytes(loaded.model)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        loaded.model.generate(ids, max_new_tokens=8, do_sample=False)
import ctypes, gc
gc.collect()
try:
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed load-time buffers back: steady-state RSS
except OSError:
    pass
print(json.dumps({"weights": weights, "rss": proc.memory_info().rss}))
"""

ESTIMATE = {
    "llama.cpp Q4_1": None,
    "HF fp32": "fp32",
    "HF bnb nf4": "bnb nf4",
    "HF bnb nf4+dq": "bnb nf4+dq",
    "HF bnb int8": "bnb int8",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ctx", type=int, default=2048)
    args = ap.parse_args()
    from llmbench.engine import models
    from llmbench.engine.inspect import inspect_source
    from llmbench.engine.inspect.memory import RUNTIME_OVERHEAD, hf_weights_bytes, kv_cache_bytes

    s = inspect_source(models.resolve("smollm2").path)
    kv = kv_cache_bytes(s, args.ctx)
    mib = 2**20
    print(f"SmolLM2-135M, context {args.ctx}: estimate vs measured (MiB)")
    print(f"{'format':16} {'weights est':>11} {'measured':>9} {'error':>7}   {'total est':>9} {'RSS':>7} {'error':>7}")
    for fmt, key in ESTIMATE.items():
        out = subprocess.run([sys.executable, "-c", CHILD, fmt, str(args.ctx)], capture_output=True, text=True)
        if out.returncode:
            print(f"{fmt:16} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        got = json.loads(out.stdout.strip().splitlines()[-1])
        if key is None:  # llama.cpp: the file is what is mapped; estimate at the file's own type
            est_w = s.size_bytes
            total = est_w + kv + RUNTIME_OVERHEAD["llama.cpp"]
        else:
            est_w = hf_weights_bytes(s, key)
            # HF's cache grows with the tokens used (12 here), not the context: no KV term
            total = est_w + RUNTIME_OVERHEAD["HF"]
        print(
            f"{fmt:16} {est_w / mib:11.1f} {got['weights'] / mib:9.1f} {est_w / got['weights'] - 1:+7.1%}   "
            f"{total / mib:9.0f} {got['rss'] / mib:7.0f} {total / got['rss'] - 1:+7.1%}"
        )


if __name__ == "__main__":
    main()
