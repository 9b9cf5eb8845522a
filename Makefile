# The two commands of the README:
#   make demo   set everything up and open llmbench on the demo models
#   make test   set everything up and run the whole test suite
PYTHON ?= python3
VENV ?= .venv

.PHONY: setup setup-test demo test bench clean

setup:
	$(PYTHON) scripts/bootstrap.py

setup-test:
	$(PYTHON) scripts/bootstrap.py --test

demo: setup
	$(VENV)/bin/llmbench

test: setup-test
	$(VENV)/bin/python -m pytest -q

bench: setup
	$(VENV)/bin/python bench/duel_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache
