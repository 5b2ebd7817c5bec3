"""Guards: checks on every model input and output that allow, redact or block, failing closed.

The gateway uses `Pipeline.from_policy(policy)`; the evaluation engine uses `pii.detect`.
"""

from finsandbox.guards.base import (
    Action,
    ConversationState,
    Decision,
    Guard,
    GuardContext,
    GuardSettings,
    ModelCaller,
    ModelReply,
    Span,
    get_guard,
    guard,
    registered_guards,
)
from finsandbox.guards.errors import GuardBlocked, InputTooLarge
from finsandbox.guards.pipeline import Pipeline, PipelineResult
from finsandbox.guards.policy import (
    GuardPolicy,
    GuardSpec,
    default_policy,
    load_policy,
    parse_policy,
    shipped_policy_text,
)
from finsandbox.guards.stream import StreamGuard
from finsandbox.guards.system_prompt_leak import canary_instruction, contains_canary, mask_canary, new_canary

__all__ = [
    "Action",
    "ConversationState",
    "Decision",
    "Guard",
    "GuardBlocked",
    "GuardContext",
    "GuardPolicy",
    "GuardSettings",
    "GuardSpec",
    "InputTooLarge",
    "ModelCaller",
    "ModelReply",
    "Pipeline",
    "PipelineResult",
    "Span",
    "StreamGuard",
    "canary_instruction",
    "contains_canary",
    "default_policy",
    "get_guard",
    "guard",
    "load_policy",
    "mask_canary",
    "new_canary",
    "parse_policy",
    "registered_guards",
    "shipped_policy_text",
]
