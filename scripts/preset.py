"""Run a preset of params/ as a DVC experiment, without touching params.yaml or the workspace:
`dvc exp run --temp` with one `-S` override per key where the preset differs from params.yaml.
The experiment's runs land in the same MLflow store (DVC_ROOT is the workspace); its reports are
in the experiment (`dvc exp show`; `dvc exp apply <name>` brings them into the workspace).

    python scripts/preset.py smoke            # run it now
    python scripts/preset.py cpu_headline --queue    # queue it (then: dvc queue start -j 2)
    python scripts/preset.py smoke --print    # only print the overrides
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError, exit_on_user_error
from pipeline.study import config

PRESETS = Path("params")


def literal(value: Any) -> str:
    """A value in Hydra's override grammar (what `dvc exp run -S` parses)."""
    if isinstance(value, str):
        return json.dumps(value).replace("'", "\\'").replace('"', "'")  # a quoted string
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ",".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        # Hydra's exponents take no leading zero: repr's 2e-05 must read 2e-5.
        return re.sub(r"e([+-]?)0+(\d)", r"e\1\2", repr(value))
    return repr(value)


def overrides(base: dict, preset: dict, prefix: str = "") -> list[str]:
    """`-S` arguments that turn `base` into `preset`: `++key=value` for a new or changed leaf,
    `~key` for a key the preset does not have. Mappings are compared key by key, except a method's
    options, which are replaced whole (so that no option of the base's entry lingers)."""
    out = []
    for key, value in preset.items():
        path = f"{prefix}{key}"
        old = base.get(key)
        if isinstance(value, dict) and isinstance(old, dict) and prefix != "methods.":
            out += overrides(old, value, f"{path}.")
        elif old != value or key not in base:
            out.append(f"++{path}={literal(value)}")
    out += [f"~{prefix}{key}" for key in base if key not in preset]
    return out


@exit_on_user_error
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a preset: " + ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml"))))
    parser.add_argument("--queue", action="store_true", help="queue the experiment instead of running it")
    parser.add_argument("--print", dest="only_print", action="store_true", help="print the overrides only")
    args = parser.parse_args()
    path = PRESETS / f"{args.name}.yaml"
    if not path.is_file():
        raise UserError(
            f"no preset '{args.name}' in {PRESETS}/: choose one of "
            + ", ".join(sorted(p.stem for p in PRESETS.glob("*.yaml")))
        )
    config.load(path)  # a preset with a bad value is refused here, before DVC starts anything
    sets = overrides(config.read_yaml(Path("params.yaml").read_text()), config.read_yaml(path.read_text()))
    if args.only_print:
        print("\n".join(sets))
        return
    command = ["dvc", "exp", "run", "--queue" if args.queue else "--temp", *(a for s in sets for a in ("-S", s))]
    print(
        f"preset: {args.name}: dvc exp run {'--queue' if args.queue else '--temp'} with {len(sets)} overrides",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(subprocess.call(command))


if __name__ == "__main__":
    main()
