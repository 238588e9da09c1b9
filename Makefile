# Two entry points: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR := build/demo

.PHONY: demo test test-containers bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py $(DEMO_DIR)

# -rs prints why a test was skipped (the container tests, where podman cannot be installed).
test: $(STAMP)
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider $(PYTEST_ARGS)

# Only the container images: built with podman from the generated Dockerfiles and run (tests/test_containers.py).
test-containers: $(STAMP)
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider -m containers $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/render.py
	$(BIN)/python bench/coldstart.py

clean:
	rm -rf build dist *.egg-info .pytest_cache
