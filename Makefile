# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test bench stress lint clean

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "muxtui needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP_RUN): $(PY) pyproject.toml
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_TEST): $(PY) pyproject.toml
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(VENV)/bin/muxtui $(ARGS)

test: $(STAMP_TEST)
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP_TEST)
	$(PY) -m bench $(ARGS)

stress: $(STAMP_TEST)
	MUXTUI_STRESS=full $(PY) -m pytest -q tests/engine tests/stress $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
