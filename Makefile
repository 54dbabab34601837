# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_RUN  := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test bench stress lint clean

# The first run installs for about a minute: pip's own output (a line per package) shows progress.
PIP_INSTALL := $(PY) -m pip install --disable-pip-version-check

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "muxtui needs Python 3.11+")'
	@echo "muxtui: first run: creating $(VENV) (about a minute, once)"
	$(PYTHON) -m venv $(VENV)
	@echo "muxtui: [1/2] updating pip"
	$(PIP_INSTALL) --upgrade pip

$(STAMP_RUN): $(PY) pyproject.toml
	@echo "muxtui: [2/2] installing muxtui and its packages"
	$(PIP_INSTALL) -e .
	@echo "muxtui: installed; starting"
	touch $@

$(STAMP_TEST): $(PY) pyproject.toml
	@echo "muxtui: [2/2] installing muxtui with the test and benchmark packages"
	$(PIP_INSTALL) -e '.[test,bench]'
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
