"""`make ui`: the MLflow UI on this study's store, and the address of the study's runs table.

python scripts/ui.py [--port 5000] [--params params.yaml]
"""

from __future__ import annotations

import argparse
import os
import sys

from mlflow.tracking import MlflowClient

from pipeline.core.errors import exit_on_user_error
from pipeline.study import config, tracking


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--params", default="params.yaml", help="whose tracking.experiment to open")
    args = parser.parse_args()
    cfg = config.load(args.params)
    uri = tracking.tracking_uri()
    experiment = MlflowClient(uri).get_experiment_by_name(cfg.tracking.experiment)
    if experiment is None:
        print(f"ui: no experiment '{cfg.tracking.experiment}' in {uri} yet: run the study first (make study)")
    else:
        print(
            f"ui: the study's runs: {tracking.runs_url(f'http://{args.host}:{args.port}', experiment.experiment_id)}",
            flush=True,
        )
    command = ["mlflow", "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    os.execvp(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
