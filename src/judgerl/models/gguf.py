"""Convert a GGUF file into a plain Hugging Face model directory (safetensors + tokenizer), once.

transformers loads a GGUF with ``from_pretrained(dir, gguf_file=name)`` and dequantizes it, which takes about a
minute for a 0.5B model on 2 cores; the converted directory reloads in well under a second. A model loaded from
GGUF cannot ``save_pretrained`` as it is (its config still says it is quantized), so the weights are moved into a
model built from the cleaned config and saved from there.

torch, transformers and gguf are imported only here, inside the function (the ``local`` extra).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import logging
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from judgerl.errors import BackendUnavailable, JudgerlError

log = logging.getLogger(__name__)

Dtype = Literal["float32", "bfloat16"]


class ConversionInfo(BaseModel):
    """What a conversion produced, recorded in the cache manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    architecture: str
    dtype: Dtype
    parameters: int
    seconds: float
    versions: dict[str, str]


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _import_stack() -> tuple[Any, Any]:
    try:
        import gguf  # noqa: F401  (transformers needs it to read GGUF files)
        import torch
        import transformers
    except ImportError as exc:
        raise BackendUnavailable(
            f"converting a GGUF model needs {exc.name}, which is not installed: pip install 'judgerl[local]'"
        ) from None
    return torch, transformers


def convert_gguf_to_hf(gguf_path: Path, out_dir: Path, *, dtype: Dtype = "float32") -> ConversionInfo:
    """Load ``gguf_path`` with transformers, dequantized to ``dtype``, and save model and tokenizer to ``out_dir``.

    float32 keeps the dequantized weights exactly; a loader can still ask for bfloat16 when it loads the directory.
    """
    torch, transformers = _import_stack()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.perf_counter()
    torch_dtype = getattr(torch, dtype)
    bars_were_on = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()
    # The GGUF reader uses tqdm directly, outside transformers' switch; the caller shows its own progress.
    gguf_utils = importlib.import_module("transformers.modeling_gguf_pytorch_utils")
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if gguf_tqdm is not None:
        setattr(gguf_utils, "tqdm", functools.partial(gguf_tqdm, disable=True))  # noqa: B010
    try:
        directory, name = str(gguf_path.parent), gguf_path.name
        try:
            tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
            loaded = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch_dtype)
        except (ValueError, KeyError, OSError, RuntimeError) as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise JudgerlError(f"{gguf_path}: transformers could not load this GGUF file: {first_line}") from None
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        # Build the clean model without allocating or initialising weights, then take the loaded tensors.
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
        model.load_state_dict(loaded.state_dict(), strict=True, assign=True)
        model.tie_weights()
        left_on_meta = [name for name, param in model.named_parameters() if param.is_meta]
        if left_on_meta:
            raise JudgerlError(f"{gguf_path}: conversion left weights unset: {', '.join(left_on_meta[:5])}")
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
        parameters = sum(param.numel() for param in model.parameters())
        architecture = (config.architectures or [type(model).__name__])[0]
    finally:
        if gguf_tqdm is not None:
            setattr(gguf_utils, "tqdm", gguf_tqdm)  # noqa: B010
        if bars_were_on:
            transformers.utils.logging.enable_progress_bar()
    seconds = time.perf_counter() - started
    log.info("converted %s to %s in %.1f s (%s, %d parameters)", gguf_path, out_dir, seconds, architecture, parameters)
    return ConversionInfo(
        architecture=architecture,
        dtype=dtype,
        parameters=parameters,
        seconds=round(seconds, 1),
        versions={pkg: _version(pkg) for pkg in ("torch", "transformers", "gguf")},
    )
