#!/usr/bin/env bash
# Create .venv (Python 3.12, the Lambda runtime) and install the project's extras.
# Usage: infra/setup.sh [EXTRAS]   e.g. infra/setup.sh training,serving,frontend,dev
# Idempotent: re-running only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-training,serving,frontend}"

find_python312() {
  if python3.12 -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    command -v python3.12; return
  fi
  # pyenv shims refuse python3.12 unless that version is selected: ask pyenv directly.
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12 /usr/bin/python3.12 /usr/local/bin/python3.12; do
    if [ -x "$candidate" ]; then echo "$candidate"; return; fi
  done
  echo "error: Python 3.12 not found (the Lambda runtime is python3.12)" >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  "$(find_python312)" -m venv .venv
fi
[ -x .venv/bin/uv ] || .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.4,<1"
# --compile-bytecode: write the .pyc files at install time, as pip does by default. These
# machines set PYTHONDONTWRITEBYTECODE, so without it every run compiles every import again
# (the training command's imports: 16 s without bytecode, 5 s with it).
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -e ".[${extras}]"
echo "setup: .venv ready ($(.venv/bin/python -V), extras: ${extras})"
