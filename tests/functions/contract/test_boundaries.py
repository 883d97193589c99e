"""Where the shared contract sits: stdlib only, cheap, and the only serving code training uses."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import chalicelib.contract

ROOT = Path(__file__).resolve().parents[3]
CONTRACT_DIR = Path(chalicelib.contract.__file__).parent


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports are within the package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_contract_is_the_file_the_lambda_package_carries() -> None:
    assert CONTRACT_DIR == ROOT / "functions" / "chalicelib" / "contract"


def test_contract_imports_only_the_standard_library() -> None:
    sources = sorted(CONTRACT_DIR.glob("*.py"))
    assert sources
    for path in sources:
        outside = {n for n in imports_of(path) if n.split(".")[0] not in sys.stdlib_module_names}
        assert outside == set(), path.name


def test_training_finds_the_contract_without_functions_on_the_path() -> None:
    """``python -m training`` from the repository root: the package mapping does the work."""
    code = "import training.schema, chalicelib.contract.row as r; print(r.__file__)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert Path(done.stdout.strip()).parent == CONTRACT_DIR
