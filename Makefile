# Two commands for a newcomer: `make demo` renders the demo job, `make test` runs every test.
# Each creates .venv and installs what it needs first (the demo needs no torch).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BASE := $(VENV)/.installed-base
FULL := $(VENV)/.installed-full

.PHONY: install demo test bench clean

$(BASE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(BASE)

# Tests also cover the neural backends with tiny offline models. laion-clap goes in with
# --no-deps: see the `laion` extra in pyproject.toml for why.
$(FULL): $(BASE)
	$(PY) -m pip install --quiet -e '.[test,neural,laion]'
	$(PY) -m pip install --quiet --no-deps 'laion-clap==1.1.7'
	touch $(FULL)

install: $(FULL)

demo: $(BASE)
	$(VENV)/bin/songfarm render jobs/examples/demo.yaml --output renders

test: $(FULL)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

# Every benchmark, one table, JSON in bench/results/, figures into the README (bench/run_all.py).
bench: $(FULL)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) renders bench/results
