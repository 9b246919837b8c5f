"""The NLU part through the real `dvc repro`: SST-2's loading code on tiny GLUE parquet files made
here, the small from-scratch transformer, two methods at one rate over three seeds; the report,
its DVC metrics, the README block and the MLflow runs read back."""

import json

import pytest
from conftest import dvc_repo, sh
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

SEEDS = [0, 1, 2]


def tiny_nlu(params: dict) -> None:
    params["study"].update(nlu_datasets=["sst2"], nlu_methods=["random", "emp"], nlu_rates=[0.5], nlu_seeds=SEEDS)
    params["nlu"].update(
        model="small_transformer", epochs=3, warmup_epochs=1, batch_size=32, lr=2e-3, lr_warmup_epochs=0.0
    )
    params["runtime"]["device"] = "cpu"
    params["tracking"] = {"experiment": "tiny-nlu"}


def write_sst2(root) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_nlu import toy_texts

    folder = root / "data" / "raw" / "glue" / "sst2"
    folder.mkdir(parents=True)
    for split, n, seed in (("train", 320, 0), ("validation", 120, 1)):
        texts, labels = toy_texts(n, seed)
        table = pa.table({"sentence": texts, "label": labels, "idx": list(range(n))})
        pq.write_table(table, folder / f"{split}-00000-of-00001.parquet")


@pytest.fixture(scope="module")
def nlu_study(tmp_path_factory):
    pytest.importorskip("datasets")
    repo = dvc_repo(tmp_path_factory.mktemp("nlu"), tiny_nlu)
    write_sst2(repo)
    log = sh(repo, "dvc", "repro", "nlu_report@sst2", with_stderr=True)
    return repo, log


def test_repro_of_the_nlu_part_writes_its_report(nlu_study):
    repo, log = nlu_study
    assert "Running stage 'prepare'" not in log  # the NLU grid needs none of the image stages
    meta = json.loads((repo / "data" / "nlu" / "sst2" / "meta.json").read_text())
    assert (meta["train_size"], meta["test_size"], meta["model"]) == (320, 120, "small_transformer")
    for seed in SEEDS:
        for cell in ("full-0.0", "random-0.5", "emp-0.5"):
            metrics = json.loads((repo / "outputs/nlu/sst2/train" / f"{cell}-{seed}" / "metrics.json").read_text())
            assert 0.0 <= metrics["test_acc"] <= 1.0 and "lfl_gini" in metrics
            assert metrics["achieved_saving"] == pytest.approx(0.0 if cell.startswith("full") else 1 / 3)
    results = (repo / "reports/nlu/sst2/results.md").read_text()
    assert results.startswith("### NLU: sst2, fine-tuning `small_transformer`\n\n320 training / 120 test texts")
    # the verdict at random's saving at 0.5 (1/3 of the work), then the raw table
    assert "- Skipping 33.3% of the training (random's saving at rate 0.5): " in results
    assert "| emp | 0.5 |" in results and "| 33.3% | emp |" in results
    assert (repo / "reports/nlu/sst2/accuracy_vs_saving.png").stat().st_size > 1000
    shown = json.loads(sh(repo, "dvc", "metrics", "show", "--json"))
    metrics = next(iter(shown.values()))["data"]["reports/nlu/sst2/metrics.json"]["data"]
    emp = metrics["budgets"]["saving33_3"]["methods"]["emp"]
    assert emp["vs_random_low"] <= emp["vs_random"] <= emp["vs_random_high"]  # 3 seeds: an interval
    assert emp["test_acc"] == pytest.approx(metrics["rates"]["pruned50"]["emp"]["test_acc"])
    assert metrics["headline"]["emp_vs_random"] == emp["vs_random"]


def test_the_results_page_gets_the_nlu_report(nlu_study):
    repo, _ = nlu_study
    # aggregate did not run here: give readme.py an image report to start from
    (repo / "reports" / "results.md").write_text("# Results\n\n**Verdict.** images\n")
    (repo / "reports" / "findings.md").write_text("- images\n")
    sh(repo, "python", "scripts/readme.py")
    page = (repo / "docs" / "results.md").read_text()
    assert "**Verdict.** images" in page and "### NLU: sst2" in page
    assert "(../reports/nlu/sst2/accuracy_vs_saving.png)" in page


def test_nlu_runs_are_tagged_and_nested_under_the_datasets_study_run(nlu_study):
    repo, _ = nlu_study
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny-nlu")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    [parent] = [r for r in runs if r.data.tags.get("study_parent") == "true"]
    assert parent.info.run_name.startswith("study sst2 (320 train)") and parent.info.status == "FINISHED"
    cells = [r for r in runs if r.data.tags.get("task") == "nlu"]
    assert len(cells) == 3 + 3 + 6  # warm-ups, full-data references, grid cells
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in cells)
    emp = next(r for r in cells if r.info.run_name == "nlu sst2 emp-0.5-1")
    assert emp.data.tags["dataset"] == "sst2" and emp.data.tags["method"] == "emp"
    assert emp.data.params["nlu.model"] == "small_transformer" and "data.dataset" not in emp.data.params
    assert "test_acc" in emp.data.metrics and "achieved_saving" in emp.data.metrics
    assert "emp_vs_random" in parent.data.metrics  # the headline figures, as the image study run has them
