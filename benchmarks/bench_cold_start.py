"""Cold start of what Lambda runs, against its floor and a scikit-learn baseline, in one run.

Run:  .venv/bin/python infra/build_package.py      # leaves build/lambda, with bytecode
      .venv/bin/python benchmarks/bench_cold_start.py [--bundle DIR] [--runs 9]

Three kinds of fresh interpreter, interleaved round by round so all see the same machine:

- **cold**: the built package (``build/lambda``, its shipped bytecode) plus a stand-in for
  what the python3.12 Lambda runtime provides (this environment's boto3, botocore and
  their dependencies, copied and byte-compiled as the runtime ships them), nothing else
  (``-S``: no site-packages). As in Lambda, ``AWS_LAMBDA_INITIALIZATION_TYPE`` is set, so
  importing ``app`` is the init phase (model load, clients, first scoring), then an API
  Gateway event goes through the real handler until the first response. The bundle is in
  a moto S3 server on loopback and the cache table in its DynamoDB.
- **floor**: the same interpreter and paths, importing only numpy, onnxruntime and
  botocore and making one S3 client: what any Lambda scoring with onnxruntime pays.
- **baseline**: the same first request done the common way, from this machine's
  environment: import pandas and scikit-learn, fetch a pickled scikit-learn model (the
  same preprocessing, KMeans and three quantile models, fitted here) from the same moto
  S3, score the request's row from a DataFrame, answer JSON. Its site-packages are
  byte-compiled into a scratch cache by one untimed warm-up run, so it does not pay for
  compiling either.

Every phase is timed inside the probe; "interpreter start" is from just before the
process is spawned to its first line. After its first response the cold probe also runs
the SnapStart after-restore hook (new clients, pointer check), timed apart from the total.
Results go to docs/benchmarks.md ("Cold start").
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import os
import pickle
import py_compile
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "build" / "lambda"
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_serving import api_event, fit_sklearn_models, real_rows, train_bundle  # noqa: E402

from tests.servers import OFFLINE_AWS_ENV, start_moto_server  # noqa: E402

BUCKET = "bench-models"
TABLE = "bench-cache"
BASELINE_KEY = "baseline/model.pkl"

# Each probe prints one JSON object of phase -> seconds on its last stderr line.
PROBE_HEAD = r"""
import time
started = time.time()
import json, sys
marks = {"interpreter start": started - float(sys.argv[1])}
def mark(name, since=[time.perf_counter()]):
    now = time.perf_counter()
    marks[name] = now - since[0]
    since[0] = now
"""

# After ``import app`` (the init): its steps, then one API Gateway event through the handler.
FIRST_REQUEST = r"""
for name, seconds in lifecycle.TIMINGS.items():
    marks["  init: " + name] = seconds
class Context: aws_request_id = "cold"
handler = getattr(app, "handler", app.app)  # what Lambda runs (older checkouts: app.app)
response = handler(json.loads(sys.argv[2]), Context()); mark("first request (handler)")
assert response["statusCode"] == 200, response
"""

COLD_PROBE = (
    PROBE_HEAD
    + r"""
import numpy; mark("import numpy")
import onnxruntime; mark("import onnxruntime")
import botocore.session, botocore.config, botocore.exceptions; mark("import botocore")
import importlib.util
if importlib.util.find_spec("aws_lambda_powertools"):  # packages that still carry it
    import aws_lambda_powertools, aws_lambda_powertools.metrics; mark("import powertools")
import chalice.app; mark("import chalice")
from chalicelib import lifecycle
from chalicelib.scoring import loader as model_store
from chalicelib.scoring import model as scoring
def timed(owner, attribute, name):
    work = getattr(owner, attribute)
    def run(*args, **kwargs):
        began = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            marks.setdefault("  " + name, time.perf_counter() - began)  # the init's
    setattr(owner, attribute, run)
timed(model_store.BundleReader, "current_version", "S3 pointer")
timed(model_store.BundleReader, "read", "S3 manifest + files + sha256")
timed(scoring.ScoringModel, "__init__", "onnxruntime sessions + manifest")
mark("import chalicelib")
import app; mark("import app (init: model load, clients, first scoring)")
"""
    + FIRST_REQUEST
    + r"""
assert "boto3" not in sys.modules and "sklearn" not in sys.modules
marks["total"] = time.time() - float(sys.argv[1])
# What a container resumed from a SnapStart snapshot runs instead of the init (not in total).
mark("(not in total)")
lifecycle.after_restore(); mark("SnapStart after-restore hook")
for name, seconds in lifecycle.TIMINGS.items():
    marks["  restore: " + name] = seconds
del marks["(not in total)"]
print(json.dumps(marks), file=sys.stderr)
"""
)

# The same init as Lambda runs it, not cut into phases: ``import app`` first, so that what
# the init overlaps (the model's S3 reads beside the scoring imports) overlaps here too.
LAMBDA_PROBE = (
    PROBE_HEAD
    + r"""
import app; mark("import app (imports and init, as Lambda runs them)")
from chalicelib import lifecycle
"""
    + FIRST_REQUEST
    + r"""
marks["total"] = time.time() - float(sys.argv[1])
print(json.dumps(marks), file=sys.stderr)
"""
)

FLOOR_PROBE = (
    PROBE_HEAD
    + r"""
import numpy; mark("import numpy")
import onnxruntime; mark("import onnxruntime")
import botocore.session; mark("import botocore")
botocore.session.get_session().create_client("s3"); mark("S3 client")
marks["total"] = time.time() - float(sys.argv[1])
print(json.dumps(marks), file=sys.stderr)
"""
)

BASELINE_PROBE = (
    PROBE_HEAD
    + r"""
import os
import numpy; mark("import numpy")
import pandas; mark("import pandas")
import sklearn.cluster, sklearn.ensemble, sklearn.pipeline; mark("import scikit-learn")
import botocore.session; mark("import botocore")
s3 = botocore.session.get_session().create_client("s3"); mark("S3 client")
blob = s3.get_object(Bucket=os.environ["MODEL_BUCKET"], Key=sys.argv[3])["Body"].read()
mark("S3 model file")
import pickle
models = pickle.loads(blob); mark("unpickle (+ training.preprocess)")
event = json.loads(sys.argv[2])
row = json.loads(event["body"])
frame = pandas.DataFrame([row])[models["features"]].astype("float64")
x = frame.to_numpy()
scaled = models["preprocessor"].transform(x)
distances = models["kmeans"].transform(scaled)
limits = [m.predict(x[:, models["limit_columns"]]) for m in models["quantiles"]]
body = json.dumps({"segment": int(distances.argmin()), "distances": distances[0].tolist(),
                   "credit_limit": [float(l[0]) for l in limits]})
response = {"statusCode": 200, "body": body}; mark("first request (DataFrame + predict)")
marks["total"] = time.time() - float(sys.argv[1])
print(json.dumps(marks), file=sys.stderr)
"""
)


def load_build_script() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_package", ROOT / "infra" / "build_package.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runtime_stand_in(directory: Path) -> Path:
    """Copies of what the Lambda runtime provides, byte-compiled as the runtime ships them."""
    directory.mkdir()
    for name in load_build_script().RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(origin.parent, directory / origin.parent.name, ignore=ignore)
        else:
            shutil.copy2(origin, directory / origin.name)
    compileall.compile_dir(
        directory, quiet=1, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )
    return directory


def run_probe(probe: str, env: dict[str, str], cwd: Path, *args: str) -> dict[str, float]:
    command = [sys.executable, *(["-S"] if "PYTHONPATH" in env else []), "-c", probe]
    spawned = time.time()
    done = subprocess.run(
        [*command, str(spawned), *args], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"probe failed:\n{done.stderr[-3000:]}")
    marks: dict[str, float] = json.loads(done.stderr.strip().splitlines()[-1])
    return marks


def publish(aws_url: str, bundle_dir: Path, rows: list[dict[str, Any]]) -> None:
    """The bundle as training publishes it, the cache table, the baseline's pickle."""
    import boto3
    from chalicelib.contract.bundle import MANIFEST_NAME, Manifest

    from training.registry import ModelRegistry

    s3 = boto3.client("s3", endpoint_url=aws_url)
    s3.create_bucket(Bucket=BUCKET)
    ModelRegistry(BUCKET, s3_client=s3).publish(bundle_dir)
    manifest = Manifest.loads((bundle_dir / MANIFEST_NAME).read_bytes())
    blob = pickle.dumps(fit_sklearn_models(manifest, rows))
    s3.put_object(Bucket=BUCKET, Key=BASELINE_KEY, Body=blob)
    dynamodb = boto3.client("dynamodb", endpoint_url=aws_url)
    dynamodb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def summarise(name: str, samples: list[dict[str, float]]) -> dict[str, float]:
    print(f"\n{name} (n={len(samples)}): median [min-max] ms")
    medians = {}
    for phase in samples[0]:
        values = [s[phase] * 1000 for s in samples if phase in s]
        medians[phase] = statistics.median(values)
        print(f"  {phase:<56} {medians[phase]:7.1f}  [{min(values):6.1f}-{max(values):6.1f}]")
    return medians


Probe = tuple[str, dict[str, str], tuple[str, ...]]  # probe source, environment, its arguments


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="bundle directory (default: train one)")
    parser.add_argument("--runs", type=int, default=9, help="timed rounds (after one warm-up)")
    parser.add_argument("--before", type=Path, help="another built package, probed the same way")
    parser.add_argument("--skip-baseline", action="store_true", help="no scikit-learn probe")
    parser.add_argument(
        "--as-lambda", action="store_true", help="also probe each package as Lambda runs it"
    )
    return parser.parse_args()


def probe_kinds(args: argparse.Namespace) -> list[str]:
    """The kinds of fresh interpreter each round starts, in their order."""
    kinds = ["floor", "cold", *(["before"] if args.before else [])]
    if args.as_lambda:
        kinds += ["cold as Lambda", *(["before as Lambda"] if args.before else [])]
    return kinds + ([] if args.skip_baseline else ["baseline"])


def probes_for(
    args: argparse.Namespace, aws_url: str, scratch: Path, event: str
) -> dict[str, Probe]:
    """Each kind's probe, environment and arguments: the package as Lambda's runtime sees
    it (the runtime stand-in, no site-packages), or this environment for the baseline."""
    runtime = runtime_stand_in(scratch / "runtime")
    aws = {**OFFLINE_AWS_ENV, "AWS_ENDPOINT_URL": aws_url, "MODEL_BUCKET": BUCKET}
    lambda_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{PACKAGE}{os.pathsep}{runtime}",
        "PYTHONDONTWRITEBYTECODE": "1",  # /var/task is read-only in Lambda
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "CACHE_TABLE": TABLE,
        "POWERTOOLS_SERVICE_NAME": "cc-segmentation",
        "POWERTOOLS_METRICS_NAMESPACE": "CcSegmentation",
        **aws,
    }
    skip = {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}
    baseline_env = {
        **{k: v for k, v in os.environ.items() if k not in skip},
        "PYTHONPYCACHEPREFIX": str(scratch / "baseline-pycache"),
        **aws,
    }
    probes: dict[str, Probe] = {
        "floor": (FLOOR_PROBE, lambda_env, ()),
        "cold": (COLD_PROBE, lambda_env, (event,)),
        "baseline": (BASELINE_PROBE, baseline_env, (event, BASELINE_KEY)),
        "cold as Lambda": (LAMBDA_PROBE, lambda_env, (event,)),
    }
    if args.before:  # the same probes on another package (e.g. main's), same runtime
        before_env = {**lambda_env, "PYTHONPATH": f"{args.before.resolve()}{os.pathsep}{runtime}"}
        probes["before"] = (COLD_PROBE, before_env, (event,))
        probes["before as Lambda"] = (LAMBDA_PROBE, before_env, (event,))
    return {kind: probes[kind] for kind in probe_kinds(args)}


def run_rounds(
    probes: dict[str, Probe], runs: int, scratch: Path
) -> dict[str, list[dict[str, float]]]:
    """One untimed warm-up round, then ``runs`` rounds of every probe, interleaved."""
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in probes}
    for round_ in range(runs + 1):
        for name, (probe, env, extra) in probes.items():
            cwd = ROOT if name == "baseline" else scratch  # baseline unpickles training.*
            marks = run_probe(probe, env, cwd, *extra)
            if round_:  # round 0 warms the disk cache and compiles the baseline
                samples[name].append(marks)
        if round_:
            print(f"round {round_}: " + ", ".join(
                f"{n} {samples[n][-1]['total'] * 1000:.0f} ms" for n in samples
            ) + f"; load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
    return samples


def report(samples: dict[str, list[dict[str, float]]]) -> None:
    """Each kind's phases, then each package against the floor (medians, per round,
    minimums) and the baseline against the package."""
    medians = {name: summarise(name, values) for name, values in samples.items()}
    floor = medians["floor"]["total"]
    print()
    for kind in ("cold", "before", "cold as Lambda", "before as Lambda"):
        if kind in medians:
            paired = [c["total"] / f["total"]
                      for c, f in zip(samples[kind], samples["floor"], strict=True)]  # fmt: skip
            least = min(s["total"] for s in samples[kind]) / min(
                s["total"] for s in samples["floor"]
            )
            print(f"{kind} / floor: {medians[kind]['total'] / floor:.2f}x (medians; per round "
                  f"median {statistics.median(paired):.2f}x; minimums {least:.2f}x)")  # fmt: skip
    if "baseline" in medians:
        print(f"baseline / cold: {medians['baseline']['total'] / medians['cold']['total']:.2f}x")


def main() -> int:
    args = parse_args()
    if not (PACKAGE / "app.py").exists():
        print("bench: build the package first: .venv/bin/python infra/build_package.py")
        return 1
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} cores")
    rows = real_rows()
    event = json.dumps(api_event("/v1/segment", rows[0]))
    with tempfile.TemporaryDirectory() as scratch_dir, start_moto_server() as aws_url:
        scratch = Path(scratch_dir)
        bundle_dir = args.bundle or train_bundle(scratch)
        publish(aws_url, bundle_dir, rows)
        samples = run_rounds(probes_for(args, aws_url, scratch, event), args.runs, scratch)
    report(samples)
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
