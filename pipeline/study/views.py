"""What the MLflow UI opens on: an experiment's runs table, and the saved view of a study in it.

A saved view is MLflow's shared-view mechanism: an experiment tag holding the table's state, opened
by `?viewStateShareKey=<key>`. The study view shows the supervised cells grouped by method (their
means), with their source, tags and headline metrics as columns; `make ui` points it at the latest
study, so that runs of older params do not mix into its means.
"""

from __future__ import annotations

import json

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from .provenance import PARENT_TAG, STUDY_TAG

# The experiment tag MLflow 3's UI reads to open an experiment on its runs table (not on GenAI traces).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
VIEW_TAG = "mlflow.sharedViewState."  # + a view's key: the experiment tag that holds the view
VIEW_KEY = "study"
SUPERVISED = "tags.task = 'supervised'"
STUDY_VIEW = {
    "searchFilter": SUPERVISED,
    "orderByKey": "attributes.start_time",
    "orderByAsc": True,
    "groupBy": {"aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": "method"}]},
    "selectedColumns": [
        "attributes.`Source`",
        *(f"tags.`{t}`" for t in ("task", "method", "rate", "seed", "stage")),
        *(f"metrics.`{m}`" for m in ("test_acc", "achieved_saving", "train_time_s")),
    ],
}


def experiment_tags() -> dict[str, str]:
    """The tags a study's experiment is created with: its kind and the study view (every study)."""
    return {**EXPERIMENT_KIND, VIEW_TAG + VIEW_KEY: json.dumps(STUDY_VIEW)}


def runs_url(base: str, experiment_id: str, view: str | None = VIEW_KEY) -> str:
    """The experiment's runs table in the UI at `base`, opened on the saved view `view` (None: none)."""
    query = f"?viewStateShareKey={view}&" if view else "?"
    return f"{base}/#/experiments/{experiment_id}/runs{query}workflowType=machine_learning"


def study_filter(key: str) -> str:
    """The runs table's filter for study `key`'s supervised cells."""
    return f"tags.`{STUDY_TAG}` = '{key}' and {SUPERVISED}"


def latest_study(client: MlflowClient, experiment_id: str) -> tuple[str | None, Run | None]:
    """The study whose supervised run is newest: its key (study.params_hash) and its parent run
    (None for either where there is none)."""
    newest = client.search_runs([experiment_id], SUPERVISED, order_by=["start_time DESC"], max_results=1)
    if not newest or STUDY_TAG not in newest[0].data.tags:
        return None, None
    key = newest[0].data.tags[STUDY_TAG]
    query = f"tags.{PARENT_TAG} = 'true' and tags.`{STUDY_TAG}` = '{key}'"
    parents = client.search_runs([experiment_id], query, order_by=["start_time ASC"], max_results=1)
    return key, (parents[0] if parents else None)


def show_latest_study(client: MlflowClient, experiment_id: str) -> str | None:
    """Point the study view at the latest study's cells; its key, or None where there is none yet."""
    key, _ = latest_study(client, experiment_id)
    if key is not None:
        view = {**STUDY_VIEW, "searchFilter": study_filter(key)}
        client.set_experiment_tag(experiment_id, VIEW_TAG + VIEW_KEY, json.dumps(view))
    return key
