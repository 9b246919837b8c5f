# The two commands of the README. Both set everything up first (scripts/setup.sh is idempotent).
VENV := .venv/bin
export PATH := $(CURDIR)/$(VENV):$(PATH)

.PHONY: setup study test bench ui

setup:
	bash scripts/setup.sh

study: setup
	dvc repro

test: setup
	python -m pytest

bench: setup
	python benchmarks/run.py

ui: setup
	mlflow ui --backend-store-uri sqlite:///mlflow.db
