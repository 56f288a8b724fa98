# The README's first two commands: `make demo` and `make test`. Both set up what they need
# (the .venv, and for the tests the Debian packages the image test uses).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint image sysdeps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Until the local runner lands, the demo runs the original toolbox calls through the
# entrypoint, then shows a refused call and a failing script keeping their exit codes.
demo: $(STAMP)
	@export PATH="$(CURDIR)/$(BIN):$$PATH"; \
	set -x; \
	container/entrypoint.sh python test.py 'param1 param2'; \
	container/entrypoint.sh bash test.sh -- 'one parameter with spaces'; \
	container/entrypoint.sh perl test.sh; echo "exit code $$? (refused)"; \
	container/entrypoint.sh bash pg_backup.sh -- --no-such-flag; echo "exit code $$? (script failed)"

sysdeps:
	@tools/install-system-deps.sh

test: $(STAMP) sysdeps
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/pytest tests/test_lint.py

image: sysdeps
	tools/build-image.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .longjob
