# The commands of the README:
#   make demo        set everything up and open llmbench on the demo models
#   make test        set everything up, lint, build the docs, and run the whole test suite (what CI runs)
#   make test-fast   the unit and engine tests that need at most SmolLM2 (under 3 minutes)
PYTHON ?= python3
VENV ?= .venv

.PHONY: setup setup-test demo test test-fast lint docs format bench clean

setup:
	$(PYTHON) scripts/bootstrap.py

setup-test:
	$(PYTHON) scripts/bootstrap.py --test

demo: setup
	$(VENV)/bin/llmbench

test: setup-test lint docs
	$(VENV)/bin/python -m pytest -q

test-fast: setup-test
	$(VENV)/bin/python -m pytest -q -m "not slow"

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# the documentation site into site/: strict, so a broken link or anchor fails; the CLI
# reference (docs/cli.md) must match the parser
docs: setup-test
	$(VENV)/bin/python scripts/cli_reference.py --check
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

format: setup-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(VENV)/bin/python bench/duel_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache site
