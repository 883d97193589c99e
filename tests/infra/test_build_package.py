"""infra/build_package.py: what goes into the Lambda zip, what is trimmed, and its size."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "build_package.py"
MB = 1024 * 1024


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_package", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


def test_requirements_skip_what_the_runtime_or_chalice_provides(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# comment\nonnxruntime>=1.20,<1.32  # the scorer\nboto3>=1.34\n"
        "Chalice>=1.31\nnumpy>=1.26,<3\n-r other.txt\naws_lambda_powertools>=3\n"
    )
    assert build.filtered_requirements(requirements) == [
        "onnxruntime>=1.20,<1.32",
        "numpy>=1.26,<3",
        "aws_lambda_powertools>=3",
    ]


def test_trim_removes_tests_stubs_caches_and_onnxruntime_tools(tmp_path: Path) -> None:
    kept = [
        "numpy/core.py",
        "onnxruntime/capi/_pybind_state.py",
        "onnxruntime/capi/onnxruntime_pybind11_state.cpython-312-x86_64-linux-gnu.so",
        "app.py",
        "x.dist-info/METADATA",
    ]
    dropped = [
        "numpy/tests/test_a.py",
        "numpy/linalg/tests/test_b.py",
        "numpy/__init__.pyi",
        "chalicelib/__pycache__/a.cpython-312.pyc",
        "onnxruntime/transformers/x.py",
        "onnxruntime/tools/y.py",
        "onnxruntime/capi/libonnxruntime.so.1.31.1",
        "google/protobuf/message.py",
        "x.dist-info/RECORD",
    ]
    for name in kept + dropped:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    freed = build.trim(tmp_path)
    assert freed == 6 * len(dropped)
    remaining = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    files = [p for p in remaining if (tmp_path / p).is_file()]
    assert files == sorted(kept)
    assert "google" not in remaining  # emptied directories go too


@pytest.mark.slow
def test_package_builds_for_lambda_under_the_size_limit(tmp_path: Path) -> None:
    """The real build: wheels from the package index (pip's cache makes reruns quick)."""
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "smoke check: app imports and answers" in run.stdout
    zip_path = tmp_path / "lambda.zip"
    size = zip_path.stat().st_size
    assert f"{size / MB:.1f} MB zipped" in run.stdout
    assert size <= build.ZIP_LIMIT_MB * MB

    names = zipfile.ZipFile(zip_path).namelist()
    assert {"app.py", "chalice/app.py", "chalicelib/batch/files.py"} <= set(names)
    assert "chalicelib/api/openapi.json" in names
    native = [n for n in names if n.startswith("onnxruntime/capi/onnxruntime_pybind11_state")]
    assert native and all(n.endswith(".so") for n in native)
    assert not [n for n in names if n.startswith("onnxruntime/capi/libonnxruntime.so")]
    assert not [n for n in names if n.split("/")[0] in {"boto3", "botocore", "s3transfer"}]
    assert not [n for n in names if "/tests/" in n or n.endswith(".pyi")]
    assert not [
        n for n in names if n.startswith(("onnxruntime/transformers/", "onnxruntime/tools/"))
    ]
    assert "chalicelib/batch/__pycache__/files.cpython-312.pyc" in names  # precompiled

    wheel = next(n for n in names if n.startswith("onnxruntime-") and n.endswith("/WHEEL"))
    tags = zipfile.ZipFile(zip_path).read(wheel).decode()
    assert "cp312-cp312-manylinux" in tags and "x86_64" in tags
