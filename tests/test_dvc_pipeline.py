"""The real `dvc repro` on a tiny params file, in a temporary copy of the repository, with the
real SQLite MLflow store read back through MLflow."""

import json

import pytest
import torch
import yaml
from conftest import ROOT, dvc_repo, sh
from mlflow.tracking import MlflowClient

from pipeline.core.data import load_digits
from pipeline.study import tracking

pytestmark = pytest.mark.slow  # runs the stages or several processes: minutes in all

SEEDS = [0, 1, 2]  # the fewest that give a verdict
CELLS = [f"{c}-{s}" for s in SEEDS for c in ("full-0.0", "random-0.3", "random-0.7", "emp-0.3", "emp-0.7")]
WARMUPS = [f"warmup@{s}" for s in SEEDS]
N, E, W = 1347, 4, 1  # digits' training set, epochs, warm-up epochs


def tiny_study(params: dict) -> None:
    """The demo's tiny study with 3 seeds (a verdict), two rates and two selectors, on the CPU."""
    params["train"].update(epochs=E, warmup_epochs=W)
    params["runtime"]["device"] = "cpu"
    params["study"].update(rates=[0.3, 0.7], seeds=SEEDS, selectors=["flexrand", "static_random"])
    params["tracking"]["experiment"] = "tiny-study"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    repo = dvc_repo(tmp_path_factory.mktemp("study"), tiny_study)
    log = sh(repo, "dvc", "repro", with_stderr=True)
    return repo, log


@pytest.fixture(scope="module")
def runs(study):
    repo, _ = study
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny-study")
    assert experiment is not None
    return repo, client, experiment, client.search_runs([experiment.experiment_id], max_results=100)


def test_repro_writes_every_cell_and_the_report(study):
    repo, _ = study
    for cell in CELLS:
        metrics = json.loads((repo / "outputs" / "train" / cell / "metrics.json").read_text())
        assert 0.5 < metrics["test_acc"] <= 1.0
        assert (repo / "outputs" / "train" / cell / "curves.png").stat().st_size > 1000
    emp = json.loads((repo / "outputs" / "train" / "emp-0.7-0" / "metrics.json").read_text())
    # K = round(0.3 N) = 404 trained in each of the E - W pruned epochs
    assert emp["achieved_saving"] == pytest.approx(1 - (N + 3 * 404) / (E * N))
    report = (repo / "reports" / "results.md").read_text()
    for row in ("| full | 0 |", "| random | 0.3 |", "| random | 0.7 |", "| emp | 0.3 |", "| emp | 0.7 |"):
        assert row in report
    assert json.loads((repo / "reports" / "metrics.json").read_text())["train"]["rates"]["pruned70"]["emp"][
        "achieved_saving"
    ] == pytest.approx(emp["achieved_saving"])
    for row in ("| emp | 0.7 |", "| full | 0 |", "| all labels | 0 |", "| flexrand | 0.3 |", "| static_random | 0.7 |"):
        assert row in report.split("### SimCLR")[1]
    ssl = json.loads((repo / "outputs" / "linear_eval" / "emp-0.7-0" / "metrics.json").read_text())
    assert 0.3 < ssl["linear_acc"] <= 1.0 and ssl["achieved_saving"] == pytest.approx(1 - (N + 404) / (2 * N))
    down = json.loads((repo / "outputs" / "downstream" / "flexrand-0.3-0" / "metrics.json").read_text())
    per_class = torch.bincount(load_digits().train_y).tolist()
    assert down["kept"] == sum(int(0.7 * n + 0.5) for n in per_class)  # FlexRand keeps round(0.7 n_c) a class
    points = json.loads((repo / "reports" / "plots" / "accuracy_vs_saving.json").read_text())
    assert {(p["method"], p["rate"]) for p in points} == {
        ("full", 0.0),
        ("random", 0.3),
        ("random", 0.7),
        ("emp", 0.3),
        ("emp", 0.7),
    }
    untrained = json.loads((repo / "outputs" / "linear_eval" / "untrained-0.0-0" / "metrics.json").read_text())
    assert 0.1 < untrained["linear_acc"] <= 1.0
    assert "**What pre-training adds.** The same encoder untrained" in report.split("### SimCLR")[1]
    for png in ("accuracy_vs_saving.png", "visits_at_highest_rate.png", "forest_train.png", "forest_downstream.png"):
        assert (repo / "reports" / "plots" / png).read_bytes()[:4] == b"\x89PNG"


def test_dvc_reads_the_declared_metrics_and_plots(study):
    repo, _ = study
    shown = json.loads(sh(repo, "dvc", "metrics", "show", "--json"))
    metrics = next(iter(shown.values()))["data"]["reports/metrics.json"]["data"]
    # Stable keys: the same fields for every method at every rate and budget, whatever the grid.
    train = metrics["train"]
    assert set(train) == {"full", "rates", "budgets", "setting"} and set(train["rates"]) == {"pruned30", "pruned70"}
    assert train["setting"]["seeds"] == 3 and train["setting"]["dataset"] == "digits" and train["setting"]["machine"]
    for rate in ("pruned30", "pruned70"):
        assert set(train["rates"][rate]) == {"random", "emp"}
        assert all(
            set(cell) == {"test_acc", "test_acc_std", "achieved_saving"} for cell in train["rates"][rate].values()
        )
    # the budgets are random's savings: 1 - (N + 3 K) / (E N) with K = round(0.7 N) = 943 and round(0.3 N) = 404
    assert set(train["budgets"]) == {"saving22_5", "saving52_5"}
    fields = {"reaches", "max_saving", "test_acc", "vs_random_holds", "vs_best_other_holds"} | {
        f"{d}{end}" for d in ("vs_random", "vs_best_other") for end in ("", "_low", "_high")
    }
    for budget in train["budgets"].values():
        assert set(budget["methods"]) == {"random", "emp"} and budget["best"] in ("random", "emp")
        assert all(set(cell) == fields for cell in budget["methods"].values())
    high = train["budgets"]["saving52_5"]
    assert (high["rate"], high["saving"]) == (0.7, pytest.approx(1 - (N + 3 * 404) / (E * N)))
    emp = high["methods"]["emp"]
    assert emp["vs_random_low"] <= emp["vs_random"] <= emp["vs_random_high"] and emp["reaches"] is True
    # emp saves exactly what random saves at each rate: its accuracy at a budget is its own cell's
    assert emp["test_acc"] == pytest.approx(train["rates"]["pruned70"]["emp"]["test_acc"])
    assert high["methods"]["random"]["vs_random"] == 0.0  # the reference against itself
    headline = metrics["headline"]
    assert headline["rate"] == 0.7 and headline["emp_test_acc"] == emp["test_acc"]
    assert headline["emp_vs_random"] == emp["vs_random"] and headline["best_method"] in ("random", "emp")
    # the SSL grid here has no random: no budgets to compare at, the raw table only
    assert set(metrics["pretrain"]["rates"]) == {"pruned70"} and not metrics["pretrain"].get("budgets")
    untrained = metrics["pretrain"]["untrained"]
    assert untrained["pretraining_gain"] == pytest.approx(
        metrics["pretrain"]["full"]["linear_acc"] - untrained["linear_acc"]
    )
    assert set(metrics["downstream"]["rates"]) == {"pruned30", "pruned70"}
    assert set(metrics["downstream"]["rates"]["pruned30"]) == {"flexrand", "static_random"}
    # downstream selections keep round((1 - b) n_c) a class: static_random's saving is the rate up to rounding
    assert len(metrics["downstream"]["budgets"]) == 2
    plots = json.loads(sh(repo, "dvc", "plots", "show", "--json"))["data"]
    assert set(plots) == {
        "reports/plots/accuracy_vs_saving.png",
        "reports/plots/forest_train.png",
        "reports/plots/visits_at_highest_rate.png",
        "reports/plots/ssl_linear_vs_saving.png",
        "reports/plots/downstream_linear_vs_saving.png",
        "Test accuracy against achieved saving",
        "Test accuracy per epoch",
        "Training loss per epoch",
    }
    [scatter] = plots["Test accuracy against achieved saving"]
    assert len(scatter["content"]["data"]["values"]) == len(CELLS)  # one point per cell
    [curves] = plots["Test accuracy per epoch"]
    values = curves["content"]["data"]["values"]
    lines = {v["method"] for v in values}
    assert lines == {"full", "random@0.3", "random@0.7", "emp@0.3", "emp@0.7"}  # one line per method@rate
    assert sorted(int(v["epoch"]) for v in values if v["method"] == "emp@0.7") == list(range(W + 1, E + 1))
    assert curves["content"]["encoding"]["color"]["field"] == "method"


def test_readme_findings_and_the_results_page_are_generated(study):
    repo, _ = study
    # No stage writes README.md or docs/results.md: `make readme` (scripts/readme.py) does.
    assert (repo / "README.md").read_text() == (ROOT / "README.md").read_text()
    sh(repo, "python", "scripts/readme.py")
    readme = (repo / "README.md").read_text()
    page = (repo / "docs" / "results.md").read_text()
    results = (repo / "reports" / "results.md").read_text()
    table = results.split("\n| method |", 1)[1].split("### SimCLR")[0]
    assert table.strip() in page
    # the README opens with the answer: a column per study (this one's, and the presets', not run
    # here), its sentences and the forest plot; every verdict line is on the results page
    findings = readme.split("<!-- findings:begin")[1].split("-->", 1)[1].split("<!-- findings:end -->")[0]
    assert "default study<br>22.5% / 52.5% skipped, 3 seeds |" in findings
    assert "cpu_headline<br>not run yet" in findings and "| emp | " in findings
    assert "At the highest saving of each study (52.5% of the training skipped) the most accurate is" in findings
    assert "](reports/answer/forest.png)" in findings
    assert (repo / "reports" / "answer" / "forest.png").read_bytes()[:4] == b"\x89PNG"
    assert (repo / "reports" / "answer" / "answer.md").read_text().strip() == findings.strip()
    assert page.index("Skipping 22.5%") < page.index("Skipping 52.5%")
    assert "| saving | method | accuracy (%) |" in page and "#### Every cell, at its nominal rate" in results
    for seed in SEEDS:  # one warm-up per seed, each its own
        assert (repo / "outputs" / "warmup" / str(seed) / "checkpoint.pt").is_file()
    assert "digits (1347 training / 450 test images)" in page


def test_progress_prints_a_line_per_epoch(study):
    _, log = study
    assert "emp@0.7 epoch 4/4 | loss" in log and "ETA" in log
    assert f"warmup@0 epoch {W}/{W} |" in log  # a warm-up counts to its own W epochs (and its ETA), named by its stage


def test_mlflow_holds_one_run_per_cell_nested_under_the_study(runs):
    repo, _, experiment, found = runs
    md5 = json.loads((repo / "data" / "prepared" / "meta.json").read_text())["md5"]
    assert experiment.artifact_location.startswith("file:///")
    by_name = {r.info.run_name: r for r in found}
    parents = [r for r in found if r.data.tags.get("study_parent") == "true"]
    assert len(parents) == 1
    parent = parents[0].info.run_id
    ssl = [
        "pretrain_warmup@0",
        "pretrain full-0.0-0",
        "pretrain emp-0.7-0",
        "linear_eval untrained-0.0-0",
        "linear_eval full-0.0-0",
        "linear_eval emp-0.7-0",
        "dlc 0",
    ] + [f"downstream {s}-{r}-0" for s in ("flexrand", "static_random") for r in (0.3, 0.7)]
    assert set(by_name) == {*CELLS, *ssl, *WARMUPS, "aggregate", parents[0].info.run_name}
    assert len(found) == len(CELLS) + len(ssl) + len(WARMUPS) + 2  # no duplicates
    for name in [*CELLS, *ssl, *WARMUPS, "aggregate"]:
        run = by_name[name]
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent
        tags = run.data.tags
        assert len(tags["git.commit"]) == 40 and tags["git.dirty"] in ("true", "false")
        assert tags["mlflow.source.git.commit"] == tags["git.commit"] and tags["mlflow.source.type"] == "LOCAL"
        assert tags["mlflow.source.name"].startswith("stages/") and tags["mlflow.user"]
        assert (
            tags["stage"] == tags["dvc.stage"]
            and tags["study.params_hash"] == parents[0].data.tags["study.params_hash"]
        )
        contexts = {d.tags[0].value: d.dataset for d in run.inputs.dataset_inputs}
        assert set(contexts) == {"train", "test"} and contexts["train"].name == "digits-train-1347"
    tasks = {name: by_name[name].data.tags["task"] for name in by_name if name != parents[0].info.run_name}
    assert {n for n, t in tasks.items() if t == "supervised"} == {*CELLS, *WARMUPS}
    assert {n for n, t in tasks.items() if t == "ssl"} == {n for n in ssl if not n.startswith(("dlc", "downstream"))}
    assert {n for n, t in tasks.items() if t == "downstream"} == {n for n in ssl if n.startswith(("dlc", "downstream"))}
    assert tasks["aggregate"] == "report"
    cell = by_name["emp-0.7-1"].data.tags
    assert (cell["method"], cell["rate"], cell["seed"]) == ("emp", "0.7", "1")
    assert md5 == parents[0].data.tags["dataset_md5"]


def test_the_study_run_carries_the_headline_and_the_report(runs):
    repo, client, experiment, found = runs
    [parent] = [r for r in found if r.data.tags.get("study_parent") == "true"]
    headline = json.loads((repo / "reports" / "metrics.json").read_text())["headline"]
    assert parent.info.status == "FINISHED" and parent.info.end_time > parent.info.start_time
    assert parent.data.metrics["emp_test_acc"] == tracking.shown(headline["emp_test_acc"])
    assert parent.data.metrics["emp_vs_random"] == tracking.shown(headline["emp_vs_random"])
    assert {a.path for a in client.list_artifacts(parent.info.run_id, "report")} >= {
        "report/results.md",
        "report/plots",
    }
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_full_data_models_and_the_encoders_are_logged_models(runs):
    _, client, experiment, found = runs
    names = {r.info.run_id: r.info.run_name for r in found}
    models = client.search_logged_models([experiment.experiment_id])
    logged = sorted((names[m.source_run_id], m.name) for m in models)
    assert logged == sorted(
        [(f"full-0.0-{s}", "model") for s in SEEDS]
        + [("pretrain full-0.0-0", "encoder"), ("pretrain emp-0.7-0", "encoder")]
    )


def test_a_cell_run_has_params_metrics_and_artifacts(runs):
    repo, client, _, found = runs
    [run] = [r for r in found if r.info.run_name == "emp-0.7-0"]
    p = run.data.params
    assert (p["method"], p["rate"], p["seed"], p["options.beta"], p["train.epochs"]) == ("emp", "0.7", "0", "1.0", "4")
    assert run.data.tags["dvc.stage"] == "train@emp-0.7-0"
    history = client.get_metric_history(run.info.run_id, "kept")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [(2, 404), (3, 404), (4, 404)]
    for key in ("train_loss", "test_acc", "epoch_time_s"):
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, key)) == [2, 3, 4]
    saved = json.loads((repo / "outputs" / "train" / "emp-0.7-0" / "metrics.json").read_text())
    for key in ("test_acc", "achieved_saving", "wall_time_s", "lfl_gini"):
        assert run.data.metrics[key] == tracking.shown(saved[key])
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"curves.png", "visits.png"}


def test_adding_a_rate_reruns_only_the_new_cells(study, runs):
    repo, client, experiment, before = runs
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["study"]["rates"].append(0.5)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(sh(repo, "dvc", "status", "--json"))
    new_cells = {f"train@{m}-0.5-{s}" for m in ("random", "emp") for s in SEEDS} | {
        "downstream@flexrand-0.5-0",
        "downstream@static_random-0.5-0",
    }
    assert set(status) == new_cells | {"aggregate"}
    log = sh(repo, "dvc", "repro", with_stderr=True)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    assert ran == new_cells | {"aggregate"}
    after = client.search_runs([experiment.experiment_id], max_results=100)
    new_runs = [
        r
        for r in after
        if r.info.run_id not in {b.info.run_id for b in before} and r.data.tags.get("study_parent") != "true"
    ]
    added = sorted(r.info.run_name for r in new_runs)
    assert added == ["aggregate", "downstream flexrand-0.5-0", "downstream static_random-0.5-0"] + sorted(
        f"{m}-0.5-{s}" for m in ("emp", "random") for s in SEEDS
    )
    # The edited params are a new study: the new runs sit under a new parent, the old ones stay put.
    old = next(r for r in before if r.data.tags.get("study_parent") == "true")
    [new] = [r for r in after if r.data.tags.get("study_parent") == "true" and r.info.run_id != old.info.run_id]
    assert new.data.tags["study.params_hash"] != old.data.tags["study.params_hash"]
    assert new.data.params["study.rates"] == "[0.3, 0.7, 0.5]"
    assert all(r.data.tags.get("mlflow.parentRunId") == new.info.run_id for r in new_runs)
    assert all(
        r.data.tags.get("mlflow.parentRunId") == old.info.run_id for r in before if r.info.run_id != old.info.run_id
    )


def test_an_empty_grid_is_a_params_edit(study, runs):
    """A supervised-only study: the SimCLR and downstream grids emptied, only their full-data
    references stay; nothing reruns but the report, which says there is nothing to compare there."""
    repo = study[0]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["study"].update(ssl_methods=[], selectors=[])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = sh(repo, "dvc", "repro", with_stderr=True)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    assert ran == {"aggregate"}
    results = (repo / "reports" / "results.md").read_text()
    assert results.count("No equal-cost comparison") == 2  # the SimCLR and downstream parts
    metrics = json.loads((repo / "reports" / "metrics.json").read_text())
    for part, reference in (("pretrain", "full"), ("downstream", "all_labels")):
        assert metrics[part][reference] and not metrics[part]["rates"] and not metrics[part]["budgets"], part
    assert metrics["train"]["budgets"]  # the supervised grid as it was
    assert "up to date" in sh(repo, "dvc", "status", with_stderr=True)


def test_no_simclr_seeds_is_a_supervised_study(study, runs):
    """study.ssl_seeds: [] drops the SimCLR and downstream stages (the downstream part needs the
    full-data encoders): DVC runs none of them, only the report, which has no such sections."""
    repo = study[0]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["study"].update(ssl_seeds=[])
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = sh(repo, "dvc", "stage", "list", "--name-only").split()
    assert not [s for s in stages if s.startswith(("pretrain", "linear_eval", "dlc", "downstream"))]
    log = sh(repo, "dvc", "repro", with_stderr=True)
    ran = {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage")}
    assert ran == {"aggregate"}
    results = (repo / "reports" / "results.md").read_text()
    assert (
        "### Supervised pruned training" in results and "### SimCLR" not in results and "### Downstream" not in results
    )
    assert set(json.loads((repo / "reports" / "metrics.json").read_text())) == {"headline", "train"}
