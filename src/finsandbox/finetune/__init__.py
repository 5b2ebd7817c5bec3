"""Fine-tuning the embedded model with LoRA on a workspace's data, served as a new endpoint.

Needs the optional `finetune` extra (PyTorch, transformers, PEFT, gguf); `unavailable()` says why
when it is missing, and nothing here imports those packages until a fine-tune runs.
See params.py (hyper-parameters), data.py (rows and pseudonymisation), trainer.py (training),
gguf_adapter.py (the adapter llama.cpp loads), checkpoints.py (what a resumed run goes on from)
and service.py (the run and its provenance); base versus tuned is `supervision.base_vs_tuned`.
"""

from finsandbox.finetune.checkpoints import Checkpoints
from finsandbox.finetune.data import PreparedSet, TrainingRow, pseudonymise, rows_from_dataset
from finsandbox.finetune.params import TARGET_MODULES, FinetuneParams, parse_params
from finsandbox.finetune.service import (
    Outcome,
    adapters_dir,
    get_finetune,
    list_finetunes,
    require_available,
    resolve_base,
    run_finetune,
    unavailable,
)

__all__ = [
    "TARGET_MODULES",
    "Checkpoints",
    "FinetuneParams",
    "Outcome",
    "PreparedSet",
    "TrainingRow",
    "adapters_dir",
    "get_finetune",
    "list_finetunes",
    "parse_params",
    "pseudonymise",
    "require_available",
    "resolve_base",
    "rows_from_dataset",
    "run_finetune",
    "unavailable",
]
