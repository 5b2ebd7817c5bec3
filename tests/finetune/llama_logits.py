"""Next-token logits from llama.cpp, in a child process (llama.cpp never loads into the test process).

Usage: python llama_logits.py MODEL.gguf ADAPTER.gguf|- OUT.npy TOKEN_IDS_JSON
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main() -> None:
    model, adapter, out, ids = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    import llama_cpp

    llm = llama_cpp.Llama(
        model_path=model,
        lora_path=None if adapter == "-" else adapter,
        n_ctx=512,
        logits_all=True,
        n_threads=2,
        verbose=False,
    )
    llm.eval(ids)
    np.save(out, np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))


if __name__ == "__main__":
    main()
