"""A fine-tune's hyper-parameters, typed and checked before anything heavy is loaded.

Every edge (CLI, web, API, a job) builds `FinetuneParams`; `parse_params` turns a bad value into
an InvalidRequest naming the parameter, so a typo is a one-line error and never a traceback from
deep inside PyTorch. The values are recorded in the ledger with the adapter they produced.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from finsandbox.errors import InvalidRequest

# The llama projections a LoRA adapter may wrap, as PyTorch names them; llama.cpp's names beside.
TARGET_MODULES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}


class FinetuneParams(BaseModel):
    """LoRA settings. The defaults fine-tune the demo's 120 triage pairs in minutes on two CPU cores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rank: int = Field(default=8, ge=1, le=256, description="LoRA rank r")
    alpha: float = Field(
        default=16.0, gt=0, le=4096, description="LoRA alpha; the update is scaled by alpha/r"
    )
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="dropout on the LoRA input")
    learning_rate: float = Field(default=2e-3, gt=0.0, le=1.0, description="AdamW learning rate")
    epochs: int = Field(default=1, ge=1, le=100, description="passes over the training rows")
    max_steps: int | None = Field(default=None, ge=1, le=100_000, description="stop after this many steps")
    batch_size: int = Field(default=4, ge=1, le=256, description="rows per optimiser step")
    max_seq_len: int = Field(
        default=256, ge=16, le=8192, description="longest row in tokens; longer rows are left out and counted"
    )
    target_modules: tuple[str, ...] = Field(
        default=("q_proj", "k_proj", "v_proj", "o_proj"),
        max_length=len(TARGET_MODULES),
        description="projections that get an adapter",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="seed for initialisation and row order")
    device: Literal["cpu", "cuda", "auto"] = Field(
        default="cpu", description="cpu; cuda (refused when none is available); auto: cuda when present"
    )
    lora_scale: float = Field(
        default=1.0, gt=0.0, le=10.0, description="scale the served adapter is applied at"
    )

    @field_validator("target_modules", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("target_modules")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one module")
        unknown = [v for v in value if v not in TARGET_MODULES]
        if unknown:
            raise ValueError(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(TARGET_MODULES)}")
        return tuple(dict.fromkeys(value))


def parse_params(values: dict[str, Any] | None) -> FinetuneParams:
    """FinetuneParams from plain values; the first problem is an InvalidRequest naming its parameter."""
    try:
        return FinetuneParams.model_validate({k: v for k, v in (values or {}).items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][:1]) or "params"
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            known = ", ".join(FinetuneParams.model_fields)
            message = f"unknown parameter (known: {known})"
        raise InvalidRequest(f"fine-tune parameter {where}: {message}", param=where) from None


__all__ = ["TARGET_MODULES", "FinetuneParams", "parse_params"]
