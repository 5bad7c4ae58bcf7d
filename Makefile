# mmmeta: the two commands of the README, and the installer they share.
#   make demo   - install what is missing, generate the demo data, train + evaluate RetinaNet-S12
#   make test   - install what is missing, run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test

install:
	@bash tools/install.sh

demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)
