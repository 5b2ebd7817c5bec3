"""Attacks, one file each, resolved by name through `get_attack`."""

from finsandbox.evals.attacks.base import (
    Attack,
    AttackSettings,
    attack,
    attack_class,
    attack_names,
    get_attack,
)

__all__ = ["Attack", "AttackSettings", "attack", "attack_class", "attack_names", "get_attack"]
