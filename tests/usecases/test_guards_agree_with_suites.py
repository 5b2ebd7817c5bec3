"""Guards and suites agree: a reply a reference suite prescribes is never blocked or rewritten by the
default guard policy, and the disclosure guard recognises every disclosure the scorer accepts."""

from __future__ import annotations

import re

import pytest

from finsandbox.evals.loader import load_recipe_cases
from finsandbox.evals.plan import load_reference_suite
from finsandbox.evals.scorers import Evidence, get_scorer
from finsandbox.evals.targets.template import retrieve
from finsandbox.guards import ConversationState, GuardContext, Pipeline, default_policy
from finsandbox.usecases import THEMES

_QUOTED = re.compile(r'"([^"\n]+)"')


def _prescribed() -> list[tuple[str, str, str]]:
    """(suite/recipe, system prompt, reply) for every few-shot answer and quoted reply of every recipe."""
    out = []
    for theme in THEMES:
        suite = load_reference_suite(theme)
        for recipe in suite.recipes:
            system = recipe.target.system_prompt
            # Few-shot answers are whole replies; a quoted line is a part the model is told to say.
            replies = [shot.output for shot in recipe.target.few_shot]
            replies += [f"QUOTED:{q}" for q in _QUOTED.findall(system) if len(q.split()) >= 3]
            # A recipe that scores disclosure is customer-facing; the others are staff tools.
            facing = any(spec.name == "disclosure" for spec in recipe.scorers)
            where = f"{suite.name}/{recipe.name}{'' if facing else ' (staff)'}"
            out += [(where, system, r) for r in dict.fromkeys(replies)]
    return out


PRESCRIBED = _prescribed()


@pytest.mark.parametrize(
    ("where", "system", "reply"), PRESCRIBED, ids=[f"{w}:{r[:30]}" for w, _, r in PRESCRIBED]
)
def test_a_prescribed_reply_passes_the_default_policy_unchanged(where: str, system: str, reply: str) -> None:
    pipeline = Pipeline.from_policy(default_policy())
    context = GuardContext(
        customer_facing=not where.endswith("(staff)"),
        canary="fsb-canary-0011223344556677",
        conversation=ConversationState(),
    )
    checked = pipeline.check_messages(
        [{"role": "system", "content": system}, {"role": "user", "content": "Hi"}], context
    )
    assert checked.messages is not None
    quoted = reply.startswith("QUOTED:")
    reply = reply.removeprefix("QUOTED:")
    result = pipeline.check_output(reply, context)
    assert result.text is not None, (
        f"{where}: the default policy blocks a reply the suite prescribes: {result.decisions}"
    )
    watched = ("system_prompt_leak",) if quoted else ("disclosure", "system_prompt_leak")
    changed = [d.guard for d in result.decisions if d.action != "allow" and d.guard in watched]
    assert not changed, f"{where}: {changed} rewrote a reply the suite prescribes"


def test_every_disclosure_the_scorer_accepts_the_guard_leaves_alone() -> None:
    scorer = get_scorer("disclosure")
    pipeline = Pipeline.from_policy(default_policy())
    for _, _, reply in PRESCRIBED:
        reply = reply.removeprefix("QUOTED:")
        if not scorer.score(load_dummy(), reply, Evidence()).passed:
            continue
        context = GuardContext(customer_facing=True, conversation=ConversationState())
        result = pipeline.check_output(reply, context)
        assert not [d for d in result.decisions if d.guard == "disclosure" and d.action != "allow"], reply


def load_dummy():  # type: ignore[no-untyped-def]
    from finsandbox.evals.model import Case

    return Case(id="x", input="Hi")


@pytest.mark.parametrize("recipe_name", ["product_qa", "robustness"])
def test_retrieval_finds_the_section_with_the_answer(recipe_name: str) -> None:
    """BM25 top-k must put the section holding the gold figures (and the source sheet) in context."""
    recipe = load_reference_suite("customer_service").recipe(recipe_name)
    missing = []
    for case in load_recipe_cases(recipe):
        docs = retrieve(case, recipe)
        body = "\n".join(d["text"] for d in docs)
        source = str(case.metadata.get("source") or "").removesuffix(".md")
        figures = case.expected.get("numbers") or []
        if not all(f in body for f in figures) or not any(str(d["id"]).startswith(source) for d in docs):
            missing.append(case.id)
    assert not missing, f"retrieval misses the answer section for {missing}"


def test_every_injection_case_carries_the_answer_it_expects() -> None:
    for theme in THEMES:
        for recipe in load_reference_suite(theme).recipes:
            for case in load_recipe_cases(recipe):
                if "injection" not in case.tags or not case.context:
                    continue
                body = "\n".join(d.text for d in case.context)
                figures = [str(n) for n in case.expected.get("numbers") or []]
                assert all(f in body for f in figures), f"{case.id}: the context lacks {figures}"
