# Two commands for a fresh machine with Python 3.11 (see README.md):
#   make serve   install everything and serve the demo city
#   make test    install the test dependencies and run the whole suite on both store backends
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve setup test lint

serve: setup
	$(BIN)/gridmap serve

setup: $(VENV)/.installed
	@scripts/system-deps.sh runtime
	$(BIN)/gridmap assets install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

test: $(VENV)/.installed-test
	@scripts/system-deps.sh test
	$(BIN)/gridmap assets install
	$(BIN)/ruff check app tests benchmarks
	@PYTEST=$(BIN)/pytest scripts/run-tests.sh $(PYTEST_ARGS)
