#!/usr/bin/env bash
# Set everything up and run every check: lint, type-check, the whole test suite.
# This is the README's second command and exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/offline-env.sh
bash infra/setup.sh training,serving,frontend,dev
bash infra/install-browser.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports  # the layer rule (pyproject.toml, [tool.importlinter])
.venv/bin/python -m pytest "$@"
