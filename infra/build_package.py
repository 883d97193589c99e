"""Build the Lambda deployment package (python3.12, x86_64) as build/lambda.zip.

Why a script of our own rather than ``chalice package``: it installs manylinux wheels only
(no compiler, no Docker, works on any host), trims what the functions never import, checks
the result against Lambda's limits and proves the package imports and runs onnxruntime
with nothing but the package and what the Lambda runtime provides (boto3 and friends).

Usage: ``.venv/bin/python infra/build_package.py [--out build] [--requirements FILE]``
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"

ZIP_LIMIT_MB = 50.0  # Lambda's limit for a directly uploaded zip
ZIP_TARGET_MB = 45.0
UNZIPPED_LIMIT_MB = 250.0  # Lambda's limit for the unzipped function
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64")

# Provided by the python3.12 Lambda runtime: installing them would only add weight.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")
# Requirements never installed from PyPI: the runtime has boto3; chalice's runtime is
# two files copied from the installed chalice (what `chalice package` does too).
SKIPPED_REQUIREMENTS = frozenset({"boto3", "botocore", "chalice"})

# Paths (relative to the package root, as glob patterns) that nothing imports at run time.
TRIM_PATTERNS = (
    "**/__pycache__",
    "**/*.pyc",
    "**/*.pyi",
    "**/tests",
    "**/testing/_private",
    "numpy/_core/include",
    "numpy/f2py",
    "numpy/_pyinstaller",
    "numpy/typing/tests",
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/datasets",
    "onnxruntime/backend",
    # The C/C++ API library (29 MB): the Python module is linked statically and never loads
    # it (its only NEEDED entries are libc, libstdc++ and friends). ~9 MB of the zip.
    "onnxruntime/capi/libonnxruntime.so*",
    # Only onnxruntime's tools (trimmed above) use protobuf and flatbuffers.
    "google/protobuf",
    "google/_upb",
    "protobuf-*.dist-info",
    "flatbuffers",
    "flatbuffers-*.dist-info",
    "bin",
    "*.dist-info/RECORD",
    "*.dist-info/INSTALLER",
    "*.dist-info/REQUESTED",
    "*.dist-info/direct_url.json",
)

MB = 1024 * 1024


def requirement_name(line: str) -> str | None:
    """The normalised project name a requirements line installs, or None for comments."""
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
    return re.sub(r"[-_.]+", "-", match.group(0)).lower() if match else None


def filtered_requirements(path: Path) -> list[str]:
    """The requirement lines to install: everything but what the runtime or chalice gives."""
    kept = []
    for line in path.read_text().splitlines():
        name = requirement_name(line)
        if name is not None and name not in SKIPPED_REQUIREMENTS:
            kept.append(line.split("#", 1)[0].strip())
    return kept


def install_wheels(requirements: list[str], target: Path) -> None:
    """Install manylinux cp312 wheels only, for x86_64, whatever the build host is."""
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
    try:
        subprocess.run(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                "--only-binary=:all:", *platform_args, "--python-version", "3.12",
                "--implementation", "cp", "--abi", "cp312", "--no-compile",
                "--target", str(target), "-r", handle.name,
            ],
            check=True,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)


def copy_app(functions: Path, target: Path) -> None:
    """Copy the Chalice app, its chalicelib and chalice's own runtime (app.py only)."""
    import chalice
    import chalice.app

    (target / "chalice").mkdir(exist_ok=True)
    shutil.copy2(Path(chalice.__file__), target / "chalice" / "__init__.py")
    shutil.copy2(Path(chalice.app.__file__), target / "chalice" / "app.py")
    shutil.copy2(functions / "app.py", target / "app.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(functions / "chalicelib", target / "chalicelib", ignore=ignore)
    if (functions / "vendor").is_dir():  # chalice's convention for extra files
        shutil.copytree(functions / "vendor", target, ignore=ignore, dirs_exist_ok=True)


def trim(root: Path, patterns: Iterable[str] = TRIM_PATTERNS) -> int:
    """Delete what matches ``patterns`` under ``root``; return the bytes freed."""
    freed = 0
    for pattern in patterns:
        for path in sorted(root.glob(pattern), reverse=True):
            if not path.exists() or path.resolve() == root.resolve():
                continue
            freed += tree_size(path)
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    for directory in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
        if not any(directory.iterdir()):  # left empty, e.g. the google/ namespace
            directory.rmdir()
    return freed


def precompile(root: Path) -> None:
    """Ship bytecode so cold starts skip compiling (/var/task is read-only: no cache).

    Unchecked-hash pycs stay valid whatever the files' timestamps are after unzipping.
    """
    compiled = compileall.compile_dir(
        root, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    if not compiled:
        raise SystemExit("build: byte-compiling the package failed")


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def walk_files(root: Path) -> Iterator[Path]:
    yield from sorted(p for p in root.rglob("*") if p.is_file())


def write_zip(root: Path, zip_path: Path) -> None:
    """A reproducible zip: sorted entries, fixed timestamps, permissions kept."""
    zip_path.unlink(missing_ok=True)
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in walk_files(root):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def runtime_stub(directory: Path) -> Path:
    """Links to this interpreter's copies of what the Lambda runtime provides."""
    directory.mkdir()
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"build: cannot emulate the runtime: {name} is not installed here")
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (directory / source.name).symlink_to(source)
    return directory


SMOKE_CHECK = """
import sys, pathlib
package = pathlib.Path(sys.argv[1]).resolve()
import numpy, onnxruntime
for module in (numpy, onnxruntime):
    assert pathlib.Path(module.__file__).resolve().is_relative_to(package), module.__file__
import app  # the Chalice app: routes and event handlers register at import
session = onnxruntime.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
out = session.run(None, {"x": numpy.array([[1.0, 2.0]], dtype=numpy.float32)})[0]
assert out.tolist() == [[2.0, 3.0]], out
# An API Gateway request through the Lambda handler. The S3 endpoint is a closed loopback
# port, so there is no model: the answer must be the contract's 503 problem+json.
context = {"resourcePath": "/v1/health", "httpMethod": "GET", "requestId": "smoke-check"}
event = {"resource": "/v1/health", "path": "/v1/health", "httpMethod": "GET",
         "headers": {}, "multiValueHeaders": {}, "queryStringParameters": None,
         "multiValueQueryStringParameters": None, "pathParameters": None,
         "stageVariables": None, "requestContext": context, "body": None,
         "isBase64Encoded": False}
response = app.handler(event, None)  # the API function's entry point (template.yaml)
assert response["statusCode"] == 503, response
assert response["headers"]["Content-Type"] == "application/problem+json", response
context = {**context, "resourcePath": "/v1/segment", "httpMethod": "POST"}  # its direct way
event = {**event, "resource": "/v1/segment", "path": "/v1/segment", "httpMethod": "POST",
         "requestContext": context, "body": "{}"}
response = app.handler(event, None)
assert response["statusCode"] == 503, response
print("smoke check: app imports and answers, onnxruntime", onnxruntime.__version__, "runs")
"""


def tiny_model(path: Path) -> None:
    """An Add-one graph, written with onnx from the build environment (not the package)."""
    import onnx
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        "add_one",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
        [one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def smoke_check(package: Path) -> None:
    """Import the app from the package alone (plus the runtime's boto3) and run a graph.

    ``-S`` and ``-I`` keep this environment's site-packages out, so a module the trim
    removed but the code needs fails here rather than in Lambda. Only meaningful on an
    x86_64 Linux host with Python 3.12.
    """
    with tempfile.TemporaryDirectory() as scratch:
        stub = runtime_stub(Path(scratch) / "runtime")
        model = Path(scratch) / "add_one.onnx"
        tiny_model(model)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": f"{package}{os.pathsep}{stub}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "smoke-check",
            "AWS_SECRET_ACCESS_KEY": "smoke-check",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # closed: no AWS call leaves the host
            # As in Lambda: importing the app is the init (model load: none here, logged).
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "MODEL_BUCKET": "smoke-check",
            "CACHE_TABLE": "smoke-check",
            "BATCH_BUCKET": "smoke-check",
        }
        subprocess.run(
            [sys.executable, "-S", "-c", SMOKE_CHECK, str(package), str(model)],
            check=True,
            env=env,
            cwd=scratch,
        )


def largest(root: Path, count: int = 8) -> list[tuple[str, int]]:
    sizes = [(p.name, tree_size(p)) for p in root.iterdir()]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--functions", type=Path, default=FUNCTIONS, help="the Chalice app")
    parser.add_argument("--requirements", type=Path, help="default: FUNCTIONS/requirements.txt")
    parser.add_argument("--skip-smoke-check", action="store_true")
    args = parser.parse_args(argv)
    if sys.version_info[:2] != (3, 12):
        print("build: run under Python 3.12 (the Lambda runtime)", file=sys.stderr)
        return 2

    package = args.out / "lambda"
    zip_path = args.out / "lambda.zip"
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    requirements = args.requirements or args.functions / "requirements.txt"
    install_wheels(filtered_requirements(requirements), package)
    copy_app(args.functions, package)
    freed = trim(package)
    precompile(package)
    unzipped = tree_size(package)
    write_zip(package, zip_path)
    zipped = zip_path.stat().st_size
    if not args.skip_smoke_check:
        smoke_check(package)

    print(f"build: trimmed {freed / MB:.1f} MB (tests, stubs, caches, unused onnxruntime tools)")
    for name, size in largest(package):
        print(f"  {size / MB:7.1f} MB  {name}")
    print(f"build: {zip_path} {zipped / MB:.1f} MB zipped, {unzipped / MB:.1f} MB unzipped")
    if zipped > ZIP_LIMIT_MB * MB or unzipped > UNZIPPED_LIMIT_MB * MB:
        print(
            f"build: too large for Lambda (limits {ZIP_LIMIT_MB:.0f} MB zipped, "
            f"{UNZIPPED_LIMIT_MB:.0f} MB unzipped)",
            file=sys.stderr,
        )
        return 1
    if zipped > ZIP_TARGET_MB * MB:
        print(f"build: warning: above the {ZIP_TARGET_MB:.0f} MB target", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
