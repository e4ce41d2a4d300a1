"""GRPO training with a judge's reward: ``judgerl train`` (runner.py), and the same reward for a trainer you run
yourself: ``reward_function`` (reward_fn.py; docs/training.md). Imported lazily: ``import judgerl.train`` loads
no torch, no TRL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from judgerl.train.reward_fn import JudgeRewards, reward_function

__all__ = ["JudgeRewards", "reward_function"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from judgerl.train import reward_fn

        return getattr(reward_fn, name)
    raise AttributeError(f"module 'judgerl.train' has no attribute {name!r}")
