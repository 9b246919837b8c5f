#!/usr/bin/env bash
# Create .venv/ at the repository root and install the project with everything it needs.
# Idempotent: a second call only re-checks the install. Also fetches Fashion-MNIST through
# Debian's package when that is possible (root on Debian); otherwise the `prepare` stage lets
# torchvision download it.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[dev]"

fmnist=/usr/share/datasets/fashion-mnist
if [ ! -f "$fmnist/train-images-idx3-ubyte.gz" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's dataset-fashion-mnist into $fmnist"
    (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1; }) \
        || echo "setup: could not install dataset-fashion-mnist; the prepare stage will try torchvision's download"
fi
echo "setup: ready (.venv/bin/python $(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
