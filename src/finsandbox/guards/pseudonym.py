"""Reversible pseudonymisation: put the caller's values back where the model wrote their placeholders.

With `pii: pseudonymise` in a guard policy, the backend sees `<HKID_1>` instead of the HKID (as with
the default, irreversible `redact`), and the caller's reply has `<HKID_1>` replaced by the value the
caller sent. The values come from the call's `ConversationState` (the vault), held only in memory
for the length of the call; the ledger records the pseudonymised text. Only placeholders made from
the caller's input are restored: personal data the model produced itself stays masked.

A streamed reply may split a placeholder across deltas ("<HK", "ID_1>"), so the `Restorer` holds
back a trailing fragment that could still become one.
"""

from __future__ import annotations

import re

from finsandbox.guards.base import ConversationState

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d{1,6}>")
# The longest tail that could still grow into a placeholder: "<", capitals, digits, underscores.
_PARTIAL = re.compile(r"<[A-Z0-9_]{0,48}$")


def restore(text: str, vault: ConversationState) -> str:
    """`text` with every placeholder from the caller's input replaced by its original value."""
    return PLACEHOLDER.sub(lambda m: vault.original(m.group(0)) or m.group(0), text)


class Restorer:
    """Restores placeholders in a stream of text pieces, whatever the pieces' boundaries."""

    def __init__(self, vault: ConversationState) -> None:
        self._vault = vault
        self._held = ""

    def feed(self, piece: str) -> str:
        """The restored text that can be sent now; a possible placeholder at the end waits."""
        text = self._held + piece
        partial = _PARTIAL.search(text)
        cut = partial.start() if partial else len(text)
        self._held = text[cut:]
        return restore(text[:cut], self._vault)

    def finish(self) -> str:
        """Whatever is still held back, restored if it is a whole placeholder."""
        text, self._held = self._held, ""
        return restore(text, self._vault)
