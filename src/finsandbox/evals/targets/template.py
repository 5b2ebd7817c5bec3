"""A workspace endpoint wrapped in the recipe's app template: system prompt, few-shot, retrieval.

Retrieved documents (from the recipe's corpus, and any the case itself carries, such as a
planted indirect injection) travel in their own message marked `finsandbox_source: retrieved`,
so the gateway's guards can treat instructions inside them as indirect injection.
"""

from __future__ import annotations

from typing import Any, ClassVar

from finsandbox.evals import retrieval
from finsandbox.evals.client import GatewayClient
from finsandbox.evals.model import Case, Recipe
from finsandbox.evals.scorers.base import Evidence
from finsandbox.evals.targets.base import RunSettings, Target, TargetOutput, target

RETRIEVED = "retrieved"


def retrieve(case: Case, recipe: Recipe) -> list[dict[str, Any]]:
    """The documents the app would show the model for this case."""
    docs: list[dict[str, Any]] = []
    spec = recipe.target.retrieval
    if spec.method != "none" and recipe.corpus_path is not None:
        for chunk in retrieval.corpus(recipe.corpus_path).search(case.user_text, spec.top_k, spec.method):
            docs.append({"id": chunk.id, "text": chunk.text, "title": chunk.title})
    for doc in case.context:
        docs.append({"id": doc.id, "text": doc.text, "title": doc.title, "planted": doc.planted})
    return docs


def build_messages(case: Case, recipe: Recipe, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The app's conversation; the gateway adds the endpoint's canary to the system prompt itself."""
    template = recipe.target
    messages: list[dict[str, Any]] = []
    system = template.system_prompt.strip()
    if system:
        messages.append({"role": "system", "content": system})
    for shot in template.few_shot:
        messages.append({"role": "user", "content": shot.input})
        messages.append({"role": "assistant", "content": shot.output})
    if docs:
        body = "\n\n".join(f"[{d['id']}] {d['text']}" for d in docs)
        messages.append(
            {"role": "user", "content": f"Reference documents:\n{body}", "finsandbox_source": RETRIEVED}
        )
    turns = case.messages()
    if template.prompt_template and turns and turns[-1]["role"] == "user":
        turns[-1] = {
            **turns[-1],
            "content": template.prompt_template.replace("{input}", turns[-1]["content"]),
        }
    messages.extend(turns)
    return messages


@target("endpoint")
class EndpointTarget(Target):
    kind: ClassVar[str] = "endpoint"

    async def run(
        self, case: Case, recipe: Recipe, client: GatewayClient, settings: RunSettings, case_key: str
    ) -> TargetOutput:
        docs = retrieve(case, recipe)
        messages = build_messages(case, recipe, docs)
        outcome = await client.chat(
            messages,
            case_id=case_key,
            max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            seed=settings.seed,
        )
        evidence = Evidence(
            retrieved=[{"id": d["id"], "text": d["text"]} for d in docs],
            guard_decisions=outcome.guard_decisions,
            blocked=outcome.blocked,
            ledger_seqs=[outcome.ledger_seq] if outcome.ledger_seq else [],
            error=None if outcome.blocked or outcome.status == 200 else outcome.error,
        )
        return TargetOutput(
            text=outcome.text,
            evidence=evidence,
            extra={"usage": outcome.usage},
            model_view=outcome.model_view,
        )
