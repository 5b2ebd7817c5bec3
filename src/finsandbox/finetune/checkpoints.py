"""What a fine-tune needs to be resumed, and how its files are written.

A long training run on a shared pool is interrupted (a runner killed, the server stopped, a cancel);
without a checkpoint it would start again from step 0 and pay for every step twice. The trainer saves
its state to one file through `Checkpoints` and hands the caller a JSON summary of it (for a job:
its `resume_state`); handed back, the summary restarts training from the file it names.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Checkpoints:
    """Where the trainer saves its state, how often, and the state to go on from (None: from step 0).

    `on_save` gets the checkpoint's JSON summary after each save (step, total steps, the loss curve so
    far, tokens, seconds, the steps earlier resumes went on from, the file's name and SHA-256, the
    fingerprint); `resume` is such a summary. `fingerprint` is a digest of what training depends on
    (base model, training rows, parameters): the fine-tune service compares it, and the file's digest,
    before it lets training go on from `resume`."""

    path: Path
    on_save: Callable[[dict[str, Any]], None] | None = None
    resume: dict[str, Any] | None = None
    every_seconds: float = 60.0
    fingerprint: str = ""


def write_private(path: Path, write: Callable[[Path], None]) -> None:
    """Write through an owner-only temporary file renamed into place when complete, so the file is
    whole or absent (never half-written by a process killed mid-write) and never readable by others."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        write(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


__all__ = ["Checkpoints", "write_private"]
