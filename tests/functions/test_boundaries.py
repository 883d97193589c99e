"""What the Lambda package may depend on (beyond the import-linter contracts), and the
configuration it reads."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from chalicelib.config import DEFAULT_MODEL_PREFIX, ENV_VARS, Settings

from tests.functions.conftest import FUNCTIONS_DIR


def imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_app_module_imports_only_chalice_chalicelib_and_the_standard_library() -> None:
    """``app.py`` is not a package, so the layer rule (``lint-imports``, pyproject.toml) cannot
    see it: what it may import is checked here. Everything under ``chalicelib`` is checked by
    the import-linter contracts (no training stack, no boto3, one way down)."""
    allowed = {"chalice", "chalicelib", "__future__", *sys.stdlib_module_names}
    assert imported_top_level_names(FUNCTIONS_DIR / "app.py") - allowed == set()


def test_requirements_list_only_the_serving_runtime() -> None:
    lines = (FUNCTIONS_DIR / "requirements.txt").read_text().splitlines()
    names = {line.split(">")[0].split("=")[0].strip() for line in lines if line[:1].isalpha()}
    assert names == {"onnxruntime", "numpy"}


def test_settings_from_environment() -> None:
    settings = Settings.from_env(
        {
            "MODEL_BUCKET": "models-bucket",
            "MODEL_PREFIX": "bundles",
            "CACHE_TABLE": "cache",
            "MODEL_VERSION": " ",
            "API_KEY": "secret",
            "MODEL_REFRESH_SECONDS": "0",
        }
    )
    assert settings.model_bucket == "models-bucket"
    assert settings.model_prefix == "bundles/"
    assert settings.model_version is None  # blank counts as unset
    assert settings.api_key == "secret"
    assert settings.refresh_seconds == 0


def test_settings_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.model_prefix == DEFAULT_MODEL_PREFIX == "models/"
    assert settings.cache_table is None
    assert settings.refresh_seconds == 60


@pytest.mark.parametrize(
    "name", ["MODEL_BUCKET", "MODEL_PREFIX", "CACHE_TABLE", "MODEL_VERSION", "API_KEY"]
)
def test_contract_variables_are_exported(name: str) -> None:
    assert name in ENV_VARS
