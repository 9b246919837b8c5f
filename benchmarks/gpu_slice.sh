#!/usr/bin/env bash
# GPU readiness slice: benchmarks/gpu_check.py (the GPU preset's settings on random images), then a
# small real slice of the supervised study on one GPU, stage by stage and without DVC:
#   prepare -> warmup --seed 0 -> full 0.0 -> emp, random, infobatch at 0.7   (seed 0)
# with params/gpu_slice_fmnist.yaml (ResNet-18 with params/gpu_cifar10_resnet18.yaml's settings
# on Fashion-MNIST, 12 epochs of which 2 are the warm-up).
#
#   bash benchmarks/gpu_slice.sh            # from anywhere; writes into $OUT (default /tmp/gpu_slice_out)
#
# On a bare GPU machine with no network it expects two folders carried beside the checkout:
#   .whl/      wheels of what the stages import that the machine lacks (MLflow and its
#              dependencies), installed with --no-deps into $SLICE_SITE (default /tmp/site);
#              .whl/fallback/*.whl are installed only where the machine's copy is missing or older
#   .devdata/fashion-mnist/   Fashion-MNIST's four idx .gz files
# Where they are absent (a machine where the project is installed normally) the wheel install is
# skipped, and the data come from data/raw, Debian's /usr/share/datasets/fashion-mnist or a
# torchvision download, as for the study.
#
# The stages run in a scratch folder ($SLICE_WORK, default /tmp/gpu_slice, recreated each time),
# so the checkout's data/, outputs/, mlflow.db and params.yaml are left alone; MLflow logs to
# mlflow.db there. Each step is timed and cut at $SLICE_DEADLINE_S seconds (default 420) after
# the start. Into $OUT: slice.log (everything, with each step's time), gpu_check.json,
# nvidia-smi.txt and slice.tar.gz (prepared meta.json, the warm-up's and every cell's
# metrics.json, history.json, lfl.json and PNGs, summary.tsv, mlflow.db; no checkpoints),
# refreshed after every step. Exits 0 when every step succeeded.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-/tmp/gpu_slice_out}
WORK=${SLICE_WORK:-/tmp/gpu_slice}
SITE=${SLICE_SITE:-/tmp/site}
PARAMS=${SLICE_PARAMS:-$REPO/params/gpu_slice_fmnist.yaml}
DEADLINE_S=${SLICE_DEADLINE_S:-420}
PY=${PYTHON:-python3}
RATE=0.7
SEED=0

mkdir -p "$OUT"
LOG=$OUT/slice.log
: >"$LOG"
T0=$SECONDS
FAILED=0

export PYTHONUNBUFFERED=1
export PRUNING_WARM=0                                  # every stage in its own process (no warm launcher)
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true # no network there
unset MLFLOW_TRACKING_URI                              # the slice's own mlflow.db in $WORK

log() { echo "[gpu_slice $(date +%H:%M:%S) +$((SECONDS - T0))s] $*" | tee -a "$LOG"; }

if [ -e "$WORK" ] && [ ! -e "$WORK/.gpu_slice" ]; then
  log "$WORK exists and is not a gpu_slice scratch folder: set SLICE_WORK to another path"
  exit 2
fi
rm -rf "$WORK"
mkdir -p "$WORK"
touch "$WORK/.gpu_slice"
SUMMARY=$WORK/summary.tsv
printf 'step\texit\tseconds\n' >"$SUMMARY"

pack() { # the small outputs so far into $OUT/slice.tar.gz
  (
    cd "$WORK"
    {
      find data/prepared -name meta.json -type f
      find outputs \( -name metrics.json -o -name history.json -o -name lfl.json -o -name '*.png' \) -type f
      ls summary.tsv mlflow.db
    } 2>/dev/null | sort >"$WORK/.pack" || true
    tar -czf "$OUT/slice.tar.gz.tmp" -T "$WORK/.pack" && mv "$OUT/slice.tar.gz.tmp" "$OUT/slice.tar.gz"
  ) || log "pack failed"
}
trap 'log "interrupted"; pack; exit 143' TERM INT

step() { # step NAME CMD...: run CMD with the time left before the deadline, log its output and time
  local name=$1
  shift
  local left=$((DEADLINE_S - (SECONDS - T0)))
  if ((left < 20)); then
    log "$name: skipped, ${left}s left before the deadline (SLICE_DEADLINE_S=$DEADLINE_S)"
    printf '%s\tskipped\t0\n' "$name" >>"$SUMMARY"
    FAILED=$((FAILED + 1))
    return 1
  fi
  log "$name: $* (cut after ${left}s)"
  local t rc=0 dt
  t=$(date +%s.%N)
  timeout -k 10 "$left" "$@" 2>&1 | tee -a "$LOG" || rc=$?
  dt=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "$name: exit $rc after ${dt}s"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$dt" >>"$SUMMARY"
  if ((rc != 0)); then FAILED=$((FAILED + 1)); fi
  pack
  return "$rc"
}

# --- packages ---------------------------------------------------------------------------------
if compgen -G "$REPO/.whl/*.whl" >/dev/null; then
  newer=()
  if compgen -G "$REPO/.whl/fallback/*.whl" >/dev/null; then
    # a fallback wheel only where the machine's copy is missing or older than it
    mapfile -t newer < <("$PY" - "$REPO"/.whl/fallback/*.whl 2>>"$LOG" <<'EOF'
import importlib.metadata as md, sys
from pathlib import Path
from packaging.version import Version
for wheel in sys.argv[1:]:
    name, version = Path(wheel).name.split("-")[:2]
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        have = None
    print(f"fallback {name}: here {have}, carried {version}", file=sys.stderr)
    if have is None or Version(have) < Version(version):
        print(wheel)
EOF
    )
  fi
  wheels=("$REPO"/.whl/*.whl "${newer[@]}")
  log "installing ${#wheels[@]} carried wheels into $SITE"
  t=$(date +%s)
  rc=0
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "${wheels[@]}" >"$WORK/pip.log" 2>&1 || rc=$?
  grep -v "^WARNING: Target directory" "$WORK/pip.log" | tee -a "$LOG" || true
  log "pip install: exit $rc after $(($(date +%s) - t))s"
  if ((rc != 0)); then FAILED=$((FAILED + 1)); fi
  export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
else
  log "no .whl/: using the installed packages"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
fi

# --- the machine --------------------------------------------------------------------------------
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "nvidia-smi failed" >>"$OUT/nvidia-smi.txt"
step env "$PY" - <<'EOF' || true
import importlib.metadata as md, platform, sys
import torch
print("python", platform.python_version(), sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None,
      "cudnn", torch.backends.cudnn.version())
for name in ("torchvision", "numpy", "typing_extensions", "anyio", "annotated-doc", "zipp", "protobuf",
             "packaging", "pyyaml", "requests", "markupsafe", "pandas", "pyarrow", "matplotlib", "scikit-learn",
             "scipy", "mlflow-skinny", "sqlalchemy", "alembic", "pydantic", "fastapi", "starlette"):
    try:
        print(f"  {name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name} MISSING")
import mlflow, mlflow.pytorch, mlflow.store.tracking.sqlalchemy_store  # noqa: E401
import pipeline.study.cells  # noqa: F401  everything a supervised stage imports
print("imports ok: mlflow", mlflow.__version__, "from", mlflow.__file__)
EOF

# --- GPU check: the preset's settings on random images ------------------------------------------
cd "$REPO"
step gpu_check "$PY" benchmarks/gpu_check.py --out "$OUT/gpu_check.json" || true

# --- the slice ----------------------------------------------------------------------------------
mkdir -p "$WORK/data"
if [ -d "$REPO/.devdata/fashion-mnist" ]; then
  ln -s "$REPO/.devdata/fashion-mnist" "$WORK/data/raw" # data.root = data/raw, relative to $WORK
  log "Fashion-MNIST from .devdata/fashion-mnist"
elif [ -d "$REPO/data/raw" ]; then
  ln -s "$REPO/data/raw" "$WORK/data/raw"
  log "Fashion-MNIST from data/raw (else /usr/share/datasets/fashion-mnist or a download)"
fi
cd "$WORK"
S=$REPO/stages
P=(--params "$PARAMS")
if step prepare "$PY" "$S/prepare.py" "${P[@]}" && step warmup "$PY" "$S/warmup.py" "${P[@]}" --seed "$SEED"; then
  step "full-0.0-$SEED" "$PY" "$S/train.py" "${P[@]}" --method full --rate 0.0 --seed "$SEED" || true
  for method in emp random infobatch; do
    step "$method-$RATE-$SEED" "$PY" "$S/train.py" "${P[@]}" --method "$method" --rate "$RATE" --seed "$SEED" || true
  done
fi

nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu,clocks.sm,temperature.gpu --format=csv \
  2>&1 | tee -a "$LOG" || true
log "summary (step, exit, seconds):"
column -t "$SUMMARY" 2>/dev/null | tee -a "$LOG" || tee -a "$LOG" <"$SUMMARY"
pack
log "done in $((SECONDS - T0))s, $FAILED step(s) failed or skipped; outputs in $OUT"
exit $((FAILED > 0))
