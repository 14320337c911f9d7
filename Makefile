# Two commands matter: `make demo` and `make test`. Both build the virtual environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The editable install compiles the hot path in place (setup.py, mypyc) when a C compiler is
# there; a compiled module hides edits to its source, so a change to one installs again.
CORE := $(shell find sentinel -name "*.py")
# The property tests, run a second time on the pure-Python modules (docs/design.md, "Speed").
PROPERTIES := tests/engine/test_properties.py tests/pipeline/test_crash.py tests/pipeline/test_watermarks.py \
	tests/runtime/test_live_equals_replay.py tests/expectations/test_properties.py

.PHONY: demo test unit lint bench soak clean

$(STAMP): pyproject.toml setup.py $(CORE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(BIN)/python -c 'from sentinel import speed; print(speed.describe())'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sentinel demo

lint: $(STAMP)
	$(BIN)/ruff check sentinel tests bench
	$(BIN)/ruff format --check sentinel tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# helm, a Kubernetes schema validator, promtool and the Prometheus server for tests/deploy
# (into .tools/; promtool and prometheus from Debian's prometheus package when missing), and
# Debian's chromium for the browser tests.
.PHONY: tools
tools: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/fetch-tools.sh

# Three workers on the two cores: most tests wait (on brokers, processes, real windows), and
# each worker starts its own broker; 14 minutes in one process, about 6 in three.
test: lint tools
	$(BIN)/pytest -n 3
	SENTINEL_PURE=1 $(BIN)/pytest $(PROPERTIES)

# The fast loop while working (under a minute here): no broker, no browser, nothing slow, no lint;
# four workers on the two cores, since some tests wait on real timers
# (`make test` runs everything).
unit: $(STAMP)
	$(BIN)/pytest -q -m "not broker and not browser and not slow" -n 4

bench: $(STAMP)
	$(BIN)/python -m bench

# Not in CI: ten minutes of load with scheduled faults (SOAK_MINUTES to change), then a table.
soak: $(STAMP)
	$(BIN)/python tests/faults/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build
	find . -name '*.so' -not -path './.venv/*' -not -path './.tools/*' -delete
