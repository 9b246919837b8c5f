# The two commands of the README. Both set everything up first (scripts/setup.sh is idempotent).
VENV := .venv/bin
export PATH := $(CURDIR)/$(VENV):$(PATH)

.PHONY: setup study test check bench ui

setup:
	bash scripts/setup.sh

study: setup
	dvc repro

test: setup
	python -m pytest

# Seconds, not minutes: lint, format, the layers, and the tests not marked slow.
check: setup
	ruff check .
	ruff format --check .
	lint-imports
	python -m pytest -m "not slow" -q

bench: setup
	python benchmarks/run.py

ui: setup
	mlflow ui --backend-store-uri sqlite:///mlflow.db
