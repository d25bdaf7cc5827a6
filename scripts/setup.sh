#!/usr/bin/env bash
# Install npconv (with its optional picture, TensorBoard and multi-core extras) and the Fashion-MNIST data set.
# Debian/Ubuntu: Fashion-MNIST comes from the package dataset-fashion-mnist
# (/usr/share/datasets/fashion-mnist/). Elsewhere npconv downloads it on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1
if command -v apt-get >/dev/null 2>&1 && ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq dataset-fashion-mnist
fi
if ! command -v python >/dev/null 2>&1; then
  echo "setup.sh: no 'python' on PATH: create and activate a virtual environment first" \
       "(python3 -m venv .venv && . .venv/bin/activate; see the README)" >&2
  exit 1
fi
python -m pip install -q -e ".[viz,tensorboard,fast]"
