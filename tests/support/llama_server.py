"""llama-cpp-python's OpenAI-compatible server, started with llama.cpp's extra weight buffers off
(``use_extra_bufts = False``), the way judgerl's llamacpp backend loads models (backends/llamacpp_engine.py).

llama-cpp-python 0.3.36 built natively on a CPU with AMX segfaults in its first decode of the packaged Q4_K_M judges
when those buffers are on; the server has no option for them, so this launcher sets the default before the server
loads its model, then runs ``python -m llama_cpp.server`` with the given arguments.

    python tests/support/llama_server.py --model judge.gguf --port 8000 ...
"""

from __future__ import annotations

import runpy
import sys

import llama_cpp.llama_cpp as lib

_default_params = lib.llama_model_default_params


def _params_without_extra_buffers():  # type: ignore[no-untyped-def]
    params = _default_params()
    params.use_extra_bufts = False
    return params


if __name__ == "__main__":
    lib.llama_model_default_params = _params_without_extra_buffers
    sys.argv[0] = "llama_cpp.server"
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
