# Two commands for a newcomer: `make demo` renders the demo job, `make test` runs every test.
# Both create .venv and install what they need first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p renders
	$(VENV)/bin/songfarm take "an upbeat pop song in C major at 120 bpm" --duration 30 --seed 1 \
		-o renders/demo.flac --midi renders/demo.mid
	@echo "wrote renders/demo.flac"

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/bench_engine.py

clean:
	rm -rf $(VENV) renders bench/results
