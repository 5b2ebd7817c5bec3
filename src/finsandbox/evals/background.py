"""Run a trial in a thread of the serving process, for the edges (web pages, JSON API) that launch one.

The caller's transaction creates the trial row; the thread waits until that row is committed, runs
the trial through the gateway, then calls `on_finish(trial_id)` (the edge passes what should follow a
trial, such as building its scorecard, so this layer needs nothing from the layers above it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from finsandbox.store import session_scope
from finsandbox.store.models import Trial

log = logging.getLogger("finsandbox.evals")
COMMIT_WAIT_S = 30.0


def run_in_background(
    trial_id: str, actor: str, *, on_finish: Callable[[str], None] | None = None
) -> threading.Thread:
    """Start the trial's run in a daemon thread; errors end up on the trial (and in the log)."""
    from finsandbox.evals.trials import run_trial

    def work() -> None:
        deadline = time.monotonic() + COMMIT_WAIT_S
        while time.monotonic() < deadline:
            with session_scope() as s:
                if s.get(Trial, trial_id) is not None:
                    break
            time.sleep(0.05)
        try:
            asyncio.run(run_trial(trial_id, actor=actor))
        except Exception:
            log.exception("trial %s failed in the background", trial_id)
        if on_finish is not None:
            try:
                on_finish(trial_id)
            except Exception:
                log.exception("what follows trial %s (on_finish) failed", trial_id)

    thread = threading.Thread(target=work, name=f"trial-{trial_id[:8]}", daemon=True)
    thread.start()
    return thread
