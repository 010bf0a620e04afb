# The two commands of the README: `make lab` (install the student set, then open the course in
# JupyterLab) and `make test` (install everything, then run the whole test suite). Both create
# .venv on first use and install exactly the versions pinned in uv.lock, with uv (version pinned
# below, installed from PyPI into .venv/.uv); when uv cannot be installed, pip installs the same
# pins from constraints.txt, only slower. A second `make` is instant (stamp files in .venv).
#
# The sets (pyproject.toml): `kms-course` itself is the kernel side (sandbox, lessons, widgets; what
# Colab installs), `[student]` adds JupyterLab (`make lab`, Binder), `[instructor]` adds release,
# validate and grade, `[test]` adds the test tools (`make test`, `make install`, CI).
#
# Updating the pins: edit pyproject.toml, then `make lock` (keeps every other version as it is);
# `make lock ARGS=--upgrade` moves everything to the newest allowed, `make lock
# ARGS="--upgrade-package moto"` one package. It re-exports constraints.txt (pip and conda) and
# binder/requirements.txt from uv.lock; commit the three with pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
UV := $(VENV)/.uv/bin/uv
STAMP := $(VENV)/.installed
STAMP_LAB := $(VENV)/.installed-student
LOCKED := pyproject.toml uv.lock constraints.txt
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: lab lab-install test install lock clean

install: $(STAMP)

lab-install: $(STAMP_LAB)

# No pip in the venv (ensurepip alone takes seconds): uv installs everything, and the pip route
# below adds pip only when it is needed.
$(PY):
	$(PYTHON) -m venv --without-pip $(VENV)

# uv in a folder of its own: a sync removes from the venv whatever uv.lock does not list. The
# Python's own pip fetches it; where that Python has no pip, the venv gets one (ensurepip) first.
PIP_UV := pip install --quiet --disable-pip-version-check --no-deps --no-compile \
	--only-binary=:all: --target $(VENV)/.uv uv==$(UV_VERSION)
$(UV): | $(PY)
	-$(PYTHON) -m $(PIP_UV) 2>/dev/null || \
	    { $(call venv_pip) && $(PY) -m $(PIP_UV); }

# pip in the venv, if it has none yet
venv_pip = { $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null; }

# $(call sync,uv sync options,extra for the pip route)
define sync
	@if [ -x $(UV) ]; then \
	    echo "$(UV) sync --locked $(1)"; \
	    $(UV) sync --locked --quiet $(1); \
	else \
	    echo "uv is not available: pip installs the pins of constraints.txt (slower)"; \
	    $(call venv_pip) && \
	    $(PY) -m pip install --quiet --upgrade pip && \
	    $(PY) -m pip install --quiet -c constraints.txt -e '.[$(2)]'; \
	fi
endef

# --inexact: after `make test`, `make lab` keeps the instructor and test tools.
$(STAMP_LAB): $(LOCKED) | $(UV)
	$(call sync,--inexact --extra student,student)
	touch $@

$(STAMP): $(LOCKED) | $(UV)
	$(call sync,--all-extras,test)
	touch $@ $(STAMP_LAB)

# Options for JupyterLab pass through, e.g. make lab ARGS="--no-browser --port 8899"
lab: $(STAMP_LAB)
	$(VENV)/bin/kms-course lab $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -n auto --dist loadscope

lock: | $(UV)
	$(UV) lock $(ARGS)
	$(UV) export --frozen --quiet --all-extras --no-hashes --no-emit-project -o constraints.txt
	$(UV) export --frozen --quiet --extra student --no-hashes --no-emit-project -o binder/requirements.txt

clean:
	rm -rf $(VENV) .pytest_cache
