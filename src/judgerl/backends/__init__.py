"""Judge backends, registered by name and imported only when chosen (their dependencies are optional)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from judgerl.backends.base import Generation, JudgeBackend, JudgePrompt, LabelResult
from judgerl.errors import BackendUnavailable, JudgerlError

# name -> (module, class, pip extra that provides its dependencies)
_LAZY: dict[str, tuple[str, str, str]] = {
    "transformers": ("judgerl.backends.transformers_backend", "TransformersBackend", "local"),
    "llamacpp": ("judgerl.backends.llamacpp_backend", "LlamaCppBackend", "llamacpp"),
    "openai": ("judgerl.backends.openai_backend", "OpenAIBackend", "openai"),
    "bedrock": ("judgerl.backends.bedrock_backend", "BedrockBackend", "bedrock"),
}
_FACTORIES: dict[str, Callable[..., JudgeBackend]] = {}


def register_backend(name: str, factory: Callable[..., JudgeBackend] | str, extra: str = "") -> None:
    """Register a backend: a factory, or 'module:Class' imported only when the backend is chosen."""
    if isinstance(factory, str):
        module, _, cls = factory.partition(":")
        _LAZY[name] = (module, cls, extra)
    else:
        _FACTORIES[name] = factory


def backend_names() -> list[str]:
    return sorted({*_LAZY, *_FACTORIES})


def _create(name: str, **options: Any) -> JudgeBackend:
    """A registered backend by name; a missing optional dependency names the extra to install."""
    if name in _FACTORIES:
        return _FACTORIES[name](**options)
    if name not in _LAZY:
        raise JudgerlError(f"unknown backend '{name}'; choose one of: {', '.join(backend_names())}")
    module_name, class_name, extra = _LAZY[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"pip install 'judgerl[{extra}]'" if extra else "check the installation"
        raise BackendUnavailable(
            f"backend '{name}' needs a package that is not installed ({exc.name}): {hint}"
        ) from None
    backend: JudgeBackend = getattr(module, class_name)(**options)
    return backend


def build_backend(name: str, **options: Any) -> JudgeBackend:
    """The one way every door builds a backend: a registered name, or 'package.module:Factory' (imported only
    now); a constructor that rejects an option is a one-line JudgerlError."""
    if ":" in name and name not in _LAZY and name not in _FACTORIES:
        register_backend(name, name)
    try:
        return _create(name, **options)
    except TypeError as exc:
        raise JudgerlError(f"backend '{name}': bad option ({exc}); check --model/--backend-option") from None


__all__ = [
    "Generation",
    "JudgeBackend",
    "JudgePrompt",
    "LabelResult",
    "backend_names",
    "build_backend",
    "register_backend",
]
