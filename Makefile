# Entry points for a fresh clone: `make demo` (the main job) and `make test-all` (the whole
# suite, what CI runs): `make test` (the fast tests, about five minutes on 2 cores) followed by
# `make test-slow` (tests marked slow: real tiny-model training, the examples, the demo).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test test-slow test-all lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dqt demo --out demo_out

# The inspect_ai integration's tests run in CI too, so `make test` adds the [inspect] extra.
INSPECT_STAMP := $(VENV)/.installed-inspect
$(INSPECT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[inspect]"
	touch $(INSPECT_STAMP)

# The HF backend's tests need torch: 2.13.0 is the CPU build on disk (an unpinned torch
# would pull a multi-GB CUDA build).
HF_STAMP := $(VENV)/.installed-hf
$(HF_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[hf]"
	touch $(HF_STAMP)

# TinkerBackend's tests run the real tinker SDK against FakeTinkerServer.
TINKER_STAMP := $(VENV)/.installed-tinker
$(TINKER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[tinker]"
	touch $(TINKER_STAMP)

test: $(STAMP) $(INSPECT_STAMP) $(HF_STAMP) $(TINKER_STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP) $(INSPECT_STAMP) $(HF_STAMP) $(TINKER_STAMP)
	$(BIN)/python -m pytest -q -m slow

test-all: test test-slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples scripts
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(STAMP)
	$(BIN)/python benchmarks/mixing.py

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
