"""`make ui`: the MLflow UI on this study's store, and the address of the latest study's runs table
(or, where the params' experiment has no runs yet, of each experiment that has, such as `make demo`'s).

python scripts/ui.py [--port 5000] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import sys

from mlflow.entities import Experiment
from mlflow.tracking import MlflowClient

from pipeline.core.errors import exit_on_user_error
from pipeline.study import config, store, views


def arguments(doc: str) -> argparse.ArgumentParser:
    """A UI script's command line: its docstring as the help, and --params (ui_screenshot.py's too)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml", help="whose tracking.experiment to open")
    return parser


def study_experiment(params: str) -> tuple[config.Config, str, MlflowClient, Experiment | None]:
    """The params' config, the tracking store's URI and a client of it, and the params'
    tracking.experiment in that store (None where it has not been made yet); ui_screenshot.py's too."""
    cfg = config.load(params)
    uri = store.tracking_uri()
    client = MlflowClient(uri)
    return cfg, uri, client, client.get_experiment_by_name(cfg.tracking.experiment)


@exit_on_user_error
def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    cfg, uri, client, wanted = study_experiment(args.params)
    base = f"http://{args.host}:{args.port}"
    # After `make demo` alone the store holds only the demo's experiment: open what exists.
    shown = [wanted] if wanted else [e for e in client.search_experiments() if e.name != "Default"]
    if not shown:
        print(f"ui: no runs in {uri} yet: run `make demo` or `make study` first; the UI opens empty")
    elif wanted is None:
        print(f"ui: no experiment '{cfg.tracking.experiment}' (params.yaml) yet; the ones in {uri}:")
    for experiment in shown:
        # The study view opens on the latest study's cells alone (older params' runs stay in the table).
        key = views.show_latest_study(client, experiment.experiment_id)
        latest = f" (the latest study, {key[:8]})" if key else ""
        print(f"ui: {experiment.name}{latest}: {views.runs_url(base, experiment.experiment_id)}", flush=True)
    # One worker: the UI serves one reader, and each worker imports MLflow's server anew (four by
    # default: on a busy 2-core machine the page took over a minute to answer).
    command = ["mlflow", "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    command += ["--workers", "1"]
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
