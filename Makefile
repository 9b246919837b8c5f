# The README's commands (demo, ui, study, test; check, readme, preset, cluster). Each sets everything up
# first (scripts/setup.sh is idempotent).
# scripts/timed.py keeps how long setup, demo, study and test took (.timings/, for
# scripts/footprint.py: reports/footprint.json, which the README quotes).
VENV := .venv/bin
export PATH := $(CURDIR)/$(VENV):$(PATH)
TIMED := python3 scripts/timed.py

.PHONY: setup demo study preset cluster readme test check bench ui screenshots

# NLU=1 / NLU=0 force the NLU part's install on or off; by default it follows params.yaml.
setup:
	$(TIMED) setup .venv -- bash scripts/setup.sh

# Every stage on toy sizes (params/smoke.yaml) as a DVC experiment in a temporary copy: a few minutes.
demo: setup
	$(TIMED) demo -- python scripts/preset.py smoke
	@echo "demo: done. Next: make ui (the runs in MLflow), dvc exp show (the experiment's metrics),"
	@echo "      dvc exp apply <name> (its reports into the workspace), make study (the default study)"

study: setup
	$(TIMED) study outputs -- sh -c "python scripts/prune_lock.py && dvc repro && python scripts/readme.py"

# A preset of params/ as a DVC experiment (params.yaml untouched): make preset P=cpu_headline
preset:
	PARAMS=params/$(P).yaml bash scripts/setup.sh
	python scripts/preset.py $(P)

# The study's stages as SLURM jobs sharing one DVC cache (docs/scaling.md), then the reports here:
# make cluster FOLDER=/shared/me/pruning ARGS="--partition gpu --gpus-per-job 1 --jobs 40"
cluster: setup
	python scripts/cluster.py --folder $(FOLDER) $(ARGS) && dvc repro && python scripts/readme.py

# README.md's findings and docs/results.md from reports/ (no stage writes either).
readme: setup
	python scripts/readme.py

# The tests cover the NLU part too (a tiny model, and the real MiniLM and files): NLU=1, and
# the Trainer and Lightning integrations: INTEGRATIONS=1. One worker per core (pytest-xdist),
# each test file on one worker, so that a file's shared study is built once.
PYTEST = python -m pytest -n auto --dist loadfile
test:
	NLU=1 INTEGRATIONS=1 $(TIMED) setup .venv -- bash scripts/setup.sh
	$(TIMED) test -- $(PYTEST) --durations=25

# Seconds, not minutes: lint, format, the layers, and the tests not marked slow.
check: setup
	ruff check .
	ruff format --check .
	lint-imports
	$(PYTEST) -m "not slow" -q

bench: setup
	python benchmarks/run.py

ui: setup
	python scripts/ui.py

# docs/mlflow-*.png from this workspace's MLflow store, in headless Chromium (apt-get install chromium).
screenshots: setup
	python scripts/ui_screenshot.py
