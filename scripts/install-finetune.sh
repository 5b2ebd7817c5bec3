#!/usr/bin/env bash
# Installs the optional `finetune` extra (torch, transformers, peft, gguf) for the tests, but only
# where a CPU build of PyTorch is at hand without a multi-gigabyte download; otherwise it says why
# and installs nothing, and the fine-tuning tests skip with that reason.
#
# The rule, in order:
#   FINSANDBOX_FINETUNE=0     skip;
#   torch importable          install the extra's other packages (pip keeps the torch it has);
#   otherwise                 ask pip (dry run) what installing $FINSANDBOX_TORCH would bring
#                             (default "torch==2.13.0", the version the tests run with): install it
#                             only when that pulls no CUDA library (no nvidia-* or triton package),
#                             i.e. a +cpu wheel from a local wheel folder or a CPU index configured
#                             for pip, or PyPI's own wheels on aarch64 Linux and macOS (CPU builds).
#                             FINSANDBOX_FINETUNE=1 installs it whatever it pulls.
# Usage: scripts/install-finetune.sh VENV_PYTHON
set -uo pipefail
PY="$1"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SPEC="${FINSANDBOX_TORCH:-torch==2.13.0}"
MODE="${FINSANDBOX_FINETUNE:-auto}"

if [ "$MODE" = 0 ]; then
  echo "finetune extra: not installed (FINSANDBOX_FINETUNE=0); its tests will skip"
  exit 0
fi
if ! "$PY" -c "import torch" 2>/dev/null; then
  report="$(mktemp)"
  trap 'rm -f "$report"' EXIT
  if ! "$PY" -m pip install --quiet --dry-run --ignore-installed --report "$report" "$SPEC" >/dev/null 2>&1; then
    echo "finetune extra: not installed (pip cannot resolve $SPEC here); its tests will skip"
    exit 0
  fi
  cuda="$("$PY" - "$report" <<'PYEOF'
import json, sys
names = [i["metadata"]["name"].lower() for i in json.load(open(sys.argv[1]))["install"]]
print(" ".join(sorted(n for n in names if n.startswith("nvidia-") or n == "triton")))
PYEOF
)"
  if [ -n "$cuda" ] && [ "$MODE" != 1 ]; then
    echo "finetune extra: not installed: $SPEC would bring CUDA libraries ($(echo "$cuda" | wc -w) packages," \
      "gigabytes); install a CPU build of torch first (see docs/finetuning.md) or set FINSANDBOX_FINETUNE=1;" \
      "its tests will skip"
    exit 0
  fi
  "$PY" -m pip install --quiet "$SPEC" || exit 1
fi
"$PY" -m pip install --quiet -e "$ROOT[finetune]" || exit 1
echo "finetune extra: installed (torch $("$PY" -c 'import torch; print(torch.__version__)'))"
