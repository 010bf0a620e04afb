# The two commands of the README: `make lab` (install, then open the course) and
# `make test` (install, then run the whole test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: lab test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Options for JupyterLab pass through, e.g. make lab ARGS="--no-browser --port 8899"
lab: $(STAMP)
	$(VENV)/bin/kms-course lab $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadscope

clean:
	rm -rf $(VENV) .pytest_cache
