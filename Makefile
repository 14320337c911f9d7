# Two commands matter: `make demo` and `make test`. Both build the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sentinel demo

lint: $(STAMP)
	$(BIN)/ruff check sentinel tests bench
	$(BIN)/ruff format --check sentinel tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# helm, promtool and a Kubernetes schema validator for tests/deploy (into .tools/; promtool
# from Debian's prometheus package when missing).
.PHONY: tools
tools: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/fetch-tools.sh

test: lint tools
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
