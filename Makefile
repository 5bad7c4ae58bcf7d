# mmmeta: the commands of the README, and the installer they share.
#   make demo   - install what is missing, generate the demo data, train + evaluate RetinaNet-S12
#   make test   - install what is missing, lint, run the test suite
#   make test-unit - the fast unit layer only (pytest -m unit, under a minute)
#   make lint   - ruff check (configured in ruff.toml)
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test test-unit lint

install:
	@bash tools/install.sh

demo: install
	$(PY) tools/demo.py

lint: install
	$(PY) -m ruff check .

test: install lint
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests -m unit $(PYTEST_ARGS)
