# The README's first two commands: `make demo` and `make test`. Both set up what they need:
# the .venv, and for the tests the template-check venvs and the Debian packages the image
# test uses.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
IAC := .venv-iac
IAC_STAMP := $(IAC)/.installed
CHECKOV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV)/.installed
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: demo test lint checks tools image sysdeps clean sfn-local-test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) -e '.[dev]'
	touch $@

$(IAC_STAMP): tools/requirements-iac.txt
	$(PYTHON) -m venv $(IAC)
	$(IAC)/bin/pip install $(PIP_QUIET) -r tools/requirements-iac.txt
	touch $@

$(CHECKOV_STAMP): tools/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV)
	$(CHECKOV)/bin/pip install $(PIP_QUIET) -r tools/requirements-checkov.txt
	touch $@

tools: $(STAMP) $(IAC_STAMP) $(CHECKOV_STAMP)

# Runs jobs/examples/hello.json for real on this machine: the project's state machine on the
# local engine, its Lambda code, and the toolbox scripts as processes. No AWS, no Docker.
demo: $(STAMP)
	$(BIN)/longjob run jobs/examples/hello.json

sysdeps:
	@tools/install-system-deps.sh

test: tools sysdeps
	$(BIN)/pytest

# The static checks alone: ruff, shellcheck, hadolint, sam validate --lint, cfn-lint with
# the serverless rules, statelint and checkov.
checks: tools
	$(BIN)/pytest tests/test_lint.py tests/template/test_static_checks.py

# A mock configuration file's cases on AWS Step Functions Local (needs a Docker engine), for
# comparison with `longjob test`: make sfn-local-test MOCK=path/to/file.mock.json
sfn-local-test: $(STAMP)
	$(BIN)/python tools/sfn_local_test.py $(MOCK)

image: sysdeps
	tools/build-image.sh

clean:
	rm -rf $(VENV) $(IAC) $(CHECKOV) .pytest_cache .ruff_cache .longjob .aws-sam
