# Set-up lives here so that a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean

venv: $(STAMP)

# --no-deps: requirements.txt is a complete lock; see its header for why.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

demo: $(STAMP)
	$(PY) -m scripts.demo

lint: $(STAMP)
	$(PY) -m ruff check pg_keras serving scripts tests docs/examples
	$(PY) -m ruff format --check pg_keras serving scripts tests docs/examples

clean:
	rm -rf $(VENV) runs
