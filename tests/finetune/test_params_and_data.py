"""Fine-tuning inputs, without PyTorch: parameters, dataset rows, pseudonymisation, the adapter's layout."""

from __future__ import annotations

import re

import numpy as np
import pytest

from finsandbox.errors import InvalidRequest
from finsandbox.finetune import TrainingRow, parse_params, pseudonymise, rows_from_dataset
from finsandbox.finetune.data import as_served
from finsandbox.finetune.gguf_adapter import gguf_tensor_name, permute_rows
from finsandbox.guards import default_policy, parse_policy, shipped_policy_text
from finsandbox.usecases.anti_fraud import finetune_data


@pytest.mark.parametrize(
    ("values", "param", "words"),
    [
        ({"rank": 0}, "rank", "greater than or equal to 1"),
        ({"learning_rate": -1}, "learning_rate", "greater than 0"),
        ({"dropout": 1.5}, "dropout", "less than 1"),
        ({"target_modules": "q_proj,wq"}, "target_modules", "unknown module(s) wq"),
        ({"device": "tpu"}, "device", "'cpu', 'cuda' or 'auto'"),
        ({"epochs": "many"}, "epochs", "valid integer"),
        ({"rnak": 4}, "rnak", "unknown parameter"),
    ],
)
def test_bad_parameters_are_named(values: dict, param: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_params(values)
    assert err.value.param == param
    assert words in err.value.message


def test_parameters_accept_a_comma_list_of_modules_and_drop_repeats() -> None:
    params = parse_params({"target_modules": "q_proj, v_proj,q_proj", "rank": 4, "max_steps": None})
    assert params.target_modules == ("q_proj", "v_proj")
    assert params.rank == 4 and params.max_steps is None


def test_rows_need_a_prompt_and_a_completion() -> None:
    with pytest.raises(InvalidRequest, match=r"needs a 'prompt'.*this one has: id, input, expected"):
        rows_from_dataset([{"id": "1", "input": "x", "expected": {}}], ["id", "input", "expected"])
    with pytest.raises(InvalidRequest, match="row 2 has an empty prompt or completion"):
        rows_from_dataset(
            [{"prompt": "a", "completion": "b"}, {"prompt": "a", "completion": ""}], ["prompt", "completion"]
        )
    rows = rows_from_dataset([{"input": "q", "output": "a", "system": "s"}], ["input", "output", "system"])
    assert rows == [TrainingRow("s", "q", "a")]


def _synthetic() -> list[TrainingRow]:
    rows = finetune_data.build()[finetune_data.TRAIN_FILE]
    return rows_from_dataset(rows, ["system", "prompt", "completion"])


def test_the_training_set_never_holds_raw_hkids_or_phone_numbers() -> None:
    rows = _synthetic()
    hkid = re.compile(r"HKID ([A-Z]{1,2}\d{6}\([0-9A]\))")
    phone = re.compile(r"\+852 \d{4} \d{4}")
    raw = [v for r in rows for v in hkid.findall(r.prompt) + phone.findall(r.prompt)]
    assert len(raw) == 2 * len(rows)  # every row plants one of each

    prepared = pseudonymise(rows, default_policy(), None)
    text = "\n".join(r.prompt + r.system + r.completion for r in prepared.rows if r.system)
    assert not [v for v in raw if v in text]
    assert "<HKID_1>" in prepared.rows[0].prompt and "<HK_PHONE_1>" in prepared.rows[0].prompt
    assert prepared.entities["HKID"] == len(rows) and prepared.entities["HK_PHONE"] == len(rows)
    # The triage answers carry no personal data, so they are trained on as written.
    assert [r.completion for r in prepared.rows] == [r.completion for r in rows]
    provenance = prepared.provenance()
    assert provenance["pii_guards"] == "policy" and provenance["placeholders"]["HKID"] == len(rows)
    assert re.fullmatch(r"[0-9a-f]{64}", provenance["training_set_sha256"])


def test_blocked_entities_become_placeholders_and_a_policy_without_pii_gets_the_defaults() -> None:
    row = TrainingRow(None, "Card holder phone +852 9123 4567, HKID A123456(3).", "ok")
    blocking = parse_policy(
        "version: 1\ninput:\n  - guard: pii\n    settings:\n      default_action: block\n", "test"
    )
    out = pseudonymise([row], blocking, "x")
    assert "9123 4567" not in out.rows[0].prompt and "<HK_PHONE_1>" in out.rows[0].prompt
    bare = parse_policy("version: 1\ninput: []\n", "test")
    out = pseudonymise([row], bare, "y")
    assert out.guard_source == "shipped defaults"
    assert "9123 4567" not in out.rows[0].prompt


def test_the_pseudonymise_policy_keeps_dates_of_birth_as_it_says() -> None:
    policy = parse_policy(shipped_policy_text("pseudonymise"), "pseudonymise")
    row = TrainingRow(None, "Born 02/07/1985, mobile +852 9123 4567.", "ok")
    out = pseudonymise([row], policy, "p").rows[0].prompt
    assert "02/07/1985" in out and "9123 4567" not in out


def test_rows_get_the_gateway_canary_line_with_seeded_stand_ins() -> None:
    prepared = pseudonymise(
        [TrainingRow(None, "q", "a"), TrainingRow("sys", "q", "a")], default_policy(), None
    )
    first, second = as_served(prepared, 1), as_served(prepared, 1)
    assert first.digest == second.digest != as_served(prepared, 2).digest
    assert first.rows[0].system.startswith("(Confidential reference fsb-canary-")
    assert first.rows[1].system.startswith("sys\n(Confidential reference fsb-canary-")


def test_the_synthetic_set_is_deterministic_with_a_held_out_part() -> None:
    one, two = finetune_data.build(), finetune_data.build()
    assert one == two
    train, held = one[finetune_data.TRAIN_FILE], one[finetune_data.HELDOUT_FILE]
    assert len(train) == 120 and len(held) == 40
    assert not {r["prompt"] for r in train} & {c["input"] for c in held}
    for case in held:
        assert re.fullmatch(case["expected"]["regex"], finetune_data.triage(case["expected"]["label"]))
    # The shipped files are what the generator writes.
    shipped = finetune_data.train_path().read_text(encoding="utf-8").splitlines()
    assert len(shipped) == 120


def test_query_and_key_rows_are_reordered_as_llama_cpp_expects() -> None:
    # Two heads of width 4: rows (0 1 | 2 3) per head, rotary halves interleaved -> (0 2 1 3).
    w = np.arange(8).reshape(8, 1)
    assert permute_rows(w, 2)[:, 0].tolist() == [0, 2, 1, 3, 4, 6, 5, 7]
    assert gguf_tensor_name("model.layers.12.self_attn.o_proj") == "blk.12.attn_output.weight"
    assert gguf_tensor_name("model.layers.0.mlp.down_proj") == "blk.0.ffn_down.weight"
