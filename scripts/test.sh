#!/usr/bin/env bash
# Install what the tests need (npconv, its extras, torch 2.13 as the reference, Fashion-MNIST)
# and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python -m pip install -q "torch==2.13.0"
python -m pip install -q -e ".[test]"
python -m pytest "$@"
