"""template.yaml against the code it deploys: lint, environment, routes and IAM grants.

The grants are derived from the code, not restated: every boto3 operation called in
``functions/chalicelib`` is found by scanning the source, turned into its IAM action, and
must be granted to exactly the functions that run it, on exactly the resources it touches.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from cfnlint.decode import cfn_yaml

from tests.functions.conftest import FUNCTIONS_DIR, load_functions_app

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
CHALICELIB = FUNCTIONS_DIR / "chalicelib"

# functions/ is on sys.path once tests.functions.conftest is imported (as in Lambda).
from chalicelib import composition, config, observability  # noqa: E402
from chalicelib.batch import files as batch_files  # noqa: E402
from chalicelib.batch import runs as batch_runs  # noqa: E402
from chalicelib.drift import reports  # noqa: E402
from chalicelib.stores import breaker, history  # noqa: E402
from chalicelib.stores import cache as result_cache  # noqa: E402

# Operations whose IAM action is not named after the operation.
IAM_ACTION_OF = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:HeadBucket": "s3:ListBucket",
    # Multipart uploads are authorised as s3:PutObject (UploadPartCopy also needs
    # s3:GetObject on its source, which the same functions read anyway).
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:UploadPartCopy": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    # A transaction is authorised action by action; the code only ever puts in one (a
    # ConditionCheck would need dynamodb:ConditionCheckItem, an Update UpdateItem).
    "dynamodb:TransactWriteItems": "dynamodb:PutItem",
}
BATCH_FUNCTIONS = ["BatchFunction", "BatchWorkerFunction", "BatchRunFunction"]
SERVICES = ("s3", "dynamodb")

# The resource expressions the template may grant on, by what they denote.
MODEL_PREFIX_ARN = {"Fn::Sub": "${ModelBucket.Arn}/${ModelPrefix}*"}
CACHE_TABLE_ARN = {"Fn::GetAtt": ["CacheTable", "Arn"]}
HISTORY_TABLE_ARN = {"Fn::GetAtt": ["HistoryTable", "Arn"]}
BATCH_BUCKET_NAME = "${AWS::StackName}-batch-${AWS::AccountId}-${AWS::Region}"


def batch_arn(prefix: str, suffix: str = "") -> dict[str, str]:
    return {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BATCH_BUCKET_NAME}/{prefix}*{suffix}"}


BATCH_BUCKET_ARN = {"Fn::Sub": f"arn:${{AWS::Partition}}:s3:::{BATCH_BUCKET_NAME}"}


@cache
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE))


def properties_of(resource_type: str) -> dict[str, dict[str, Any]]:
    """Name -> properties of the template's resources of one type."""
    resources = template()["Resources"]
    return {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == resource_type
    }


def functions() -> dict[str, dict[str, Any]]:
    return properties_of("AWS::Serverless::Function")


def environment(function: str) -> dict[str, Any]:
    """The function's variables as SAM deploys them: globals merged, the function's winning."""
    merged = dict(template()["Globals"]["Function"]["Environment"]["Variables"])
    own = functions()[function].get("Environment", {}).get("Variables", {})
    merged.update(own)
    return merged


def operations_by_snake_name() -> dict[str, str]:
    """``get_object`` -> ``s3:GetObject`` for every operation of the services we use."""
    session = botocore.session.get_session()
    names: dict[str, str] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            names[xform_name(operation)] = f"{service}:{operation}"
    return names


def actions_called(module: Path) -> set[str]:
    """The IAM actions of the boto3 operations a module calls (``client.get_item(...)``)."""
    operations = operations_by_snake_name()
    tree = ast.parse(module.read_text())
    actions = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            operation = operations.get(node.func.attr)
            if operation is not None:
                actions.add(IAM_ACTION_OF.get(operation, operation))
    return actions


def actions_by_module() -> dict[str, set[str]]:
    found = {
        ".".join(path.relative_to(CHALICELIB).with_suffix("").parts): actions_called(path)
        for path in sorted(CHALICELIB.rglob("*.py"))
    }
    return {name: actions for name, actions in found.items() if actions}


def statements(resource: str) -> list[dict[str, Any]]:
    """The inline policy statements of a function or state machine."""
    found = []
    for policy in template()["Resources"][resource]["Properties"]["Policies"]:
        assert isinstance(policy, dict), f"{resource}: only inline statements, got {policy!r}"
        found.extend(policy["Statement"])
    return found


def granted(function: str) -> set[tuple[str, str]]:
    """(action, resource) pairs of the function's inline policies, resources as repr."""
    pairs = set()
    for statement in statements(function):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            for resource in [resources] if not isinstance(resources, list) else resources:
                pairs.add((action, repr(resource)))
    return pairs


def on(actions: set[str], resource: Any) -> set[tuple[str, str]]:
    return {(action, repr(resource)) for action in actions}


def api_events() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, event in functions()["ApiFunction"]["Events"].items():
        assert event["Type"] == "Api", name
        yield name, event["Properties"]


def test_cfn_lint_is_clean() -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == ""


def test_config_lists_every_variable_the_code_reads() -> None:
    """Any os.environ/os.getenv read under functions/ names a variable in ENV_VARS (set by
    the template) or RUNTIME_VARS (set by Lambda itself)."""
    read = set()
    for path in FUNCTIONS_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in {
                "os.environ.get",
                "os.getenv",
                "environ.get",
            }:
                read.add(resolve_name(node.args[0]))
            elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
                read.add(resolve_name(node.slice))
    assert read, "the scan found no environment reads at all: is it still looking right?"
    known = {*config.ENV_VARS, *config.RUNTIME_VARS}
    assert read <= known, read - known


def resolve_name(node: ast.expr) -> str:
    """A variable name written as a literal or as a constant of chalicelib.config."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    name = ast.unparse(node).removeprefix("config.")
    value = getattr(config, name, None)
    assert isinstance(value, str), f"cannot tell which variable {ast.unparse(node)} names"
    return value


@pytest.mark.parametrize("function", ["ApiFunction", *BATCH_FUNCTIONS])
def test_template_sets_exactly_the_variables_the_functions_read(function: str) -> None:
    assert set(environment(function)) == set(config.ENV_VARS)


def test_variables_point_at_the_stack_resources() -> None:
    api = environment("ApiFunction")
    assert api[config.MODEL_BUCKET] == {"Ref": "ModelBucket"}
    assert api[config.CACHE_TABLE] == {"Ref": "CacheTable"}
    assert api[config.MODEL_PREFIX] == {"Ref": "ModelPrefix"}
    assert api[config.BATCH_BUCKET] == {"Fn::Sub": BATCH_BUCKET_NAME}
    bucket = template()["Resources"]["BatchBucket"]["Properties"]["BucketName"]
    assert bucket == {"Fn::Sub": BATCH_BUCKET_NAME}
    # Keys are enforced by API Gateway in AWS, and the batch function scores without cache.
    assert api[config.API_KEY] == ""
    for function in BATCH_FUNCTIONS:
        assert environment(function)[config.CACHE_TABLE] == ""


def test_the_code_touches_only_known_aws_operations() -> None:
    """If the code starts calling something new, this test (and the grants) must change."""
    assert actions_by_module() == {
        "scoring.loader": {"s3:GetObject"},
        "stores.cache": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
        },
        "batch.files": {"s3:GetObject", "s3:PutObject"},
        "batch.runs": {"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
        "batch.s3_concat": {"s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"},
        "stores.history": {"dynamodb:PutItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"},
        # The one DynamoDB layer: its batch methods are named after the operations, so the
        # adapters calling them are listed with them above (and granted on their table).
        "stores.dynamodb": {
            "dynamodb:BatchGetItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:PutItem",  # TransactWriteItems
        },
        "drift.reports": {"s3:GetObject", "s3:PutObject", "s3:ListBucket"},
    }


def test_api_function_is_granted_exactly_what_it_touches() -> None:
    found = actions_by_module()
    # The DynamoDB layer acts only for the adapters, on their tables (granted below).
    assert found["stores.dynamodb"] <= found["stores.cache"] | found["stores.history"]
    expected = (
        on(found["scoring.loader"], MODEL_PREFIX_ARN)
        | on(found["stores.cache"], CACHE_TABLE_ARN)
        | on(found["stores.history"], HISTORY_TABLE_ARN)
        # reports: read only (the batch function writes them), and only their prefix
        | on({"s3:GetObject"}, batch_arn(reports.REPORTS_PREFIX))
        | on({"s3:ListBucket"}, BATCH_BUCKET_ARN)
    )
    assert granted("ApiFunction") == expected
    assert list_prefixes("ApiFunction") == {reports.REPORTS_PREFIX + "*"}


def list_prefixes(function: str) -> set[str]:
    """The ``s3:prefix`` conditions of the function's ListBucket grants (one per grant)."""
    prefixes = set()
    for policy in functions()[function]["Policies"]:
        for statement in policy["Statement"]:
            if statement["Action"] == "s3:ListBucket":
                prefixes.add(statement["Condition"]["StringLike"]["s3:prefix"])
    return prefixes


def test_batch_function_is_granted_exactly_what_it_touches() -> None:
    found = actions_by_module()
    expected = (
        on(found["scoring.loader"], MODEL_PREFIX_ARN)
        | on({"s3:GetObject"}, batch_arn(batch_files.INPUT_PREFIX))
        | on({"s3:PutObject"}, batch_arn(batch_files.OUTPUT_PREFIX))
        # migration: the previous run's results file, then the reports themselves
        | on({"s3:GetObject"}, batch_arn(batch_files.OUTPUT_PREFIX, ".results.csv"))
        | on({"s3:GetObject", "s3:PutObject"}, batch_arn(reports.REPORTS_PREFIX))
        | on({"s3:ListBucket"}, BATCH_BUCKET_ARN)
    )
    assert found["batch.files"] == {"s3:GetObject", "s3:PutObject"}
    assert granted("BatchFunction") == expected
    assert list_prefixes("BatchFunction") == {reports.REPORTS_PREFIX + "*"}
    assert environment("BatchFunction")[config.HISTORY_TABLE] == ""


def test_history_table_matches_the_history_code() -> None:
    table = template()["Resources"]["HistoryTable"]["Properties"]
    assert {k: table[k] for k in history.TABLE_DEFINITION} == history.TABLE_DEFINITION
    assert history.TABLE_DEFINITION["KeySchema"][0]["AttributeName"] == history.ID_ATTRIBUTE
    ttl = table["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": history.TTL_ATTRIBUTE, "Enabled": True}
    assert environment("ApiFunction")[config.HISTORY_TABLE] == {"Ref": "HistoryTable"}


def test_batch_worker_may_only_read_models_and_write_run_parts() -> None:
    found = actions_by_module()
    expected = on(found["scoring.loader"], MODEL_PREFIX_ARN) | on(
        {"s3:PutObject"}, batch_arn(batch_runs.RUNS_PREFIX)
    )
    assert granted("BatchWorkerFunction") == expected


def test_batch_run_function_is_granted_exactly_what_its_steps_touch() -> None:
    found = actions_by_module()
    joins = found["batch.s3_concat"]  # read parts, write and abort multipart uploads
    expected = (
        on(found["scoring.loader"], MODEL_PREFIX_ARN)
        | on({"s3:GetObject"}, batch_arn(batch_files.INPUT_PREFIX))  # the header line
        | on(joins, batch_arn(batch_runs.RUNS_PREFIX))
        | on({"s3:ListBucket"}, BATCH_BUCKET_ARN)
        | on(joins - {"s3:GetObject"}, batch_arn(batch_files.OUTPUT_PREFIX))
        | on({"s3:PutObject"}, batch_arn(reports.REPORTS_PREFIX))  # the drift report
    )
    assert granted("BatchRunFunction") == expected
    assert {a for a, _ in expected} == found["batch.runs"] | joins | found["scoring.loader"]
    (listing,) = [s for s in statements("BatchRunFunction") if s["Action"] == "s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{batch_runs.RUNS_PREFIX}*"}}


def test_cache_table_matches_the_cache_code() -> None:
    table = template()["Resources"]["CacheTable"]["Properties"]
    assert {k: table[k] for k in result_cache.TABLE_DEFINITION} == result_cache.TABLE_DEFINITION
    key = result_cache.TABLE_DEFINITION["KeySchema"]
    assert key == [{"AttributeName": result_cache.KEY_ATTRIBUTE, "KeyType": "HASH"}]
    ttl = table["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": result_cache.TTL_ATTRIBUTE, "Enabled": True}


def test_model_bucket_is_versioned_encrypted_private_and_tls_only() -> None:
    resources = template()["Resources"]
    bucket = resources["ModelBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    (statement,) = resources["ModelBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_api_events_are_exactly_the_app_routes() -> None:
    """Chalice routes on API Gateway's resource path: a route without an event is dead."""
    app = load_functions_app().app
    routes = {
        (path, method)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if entry.view_name != "not_found"  # API Gateway answers unknown routes (404 below)
    }
    events = {(props["Path"], props["Method"].upper()) for _, props in api_events()}
    assert events == routes
    responses = template()["Resources"]["ScoringApi"]["Properties"]["GatewayResponses"]
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"] == "404"


def test_api_key_required_everywhere_but_health_with_a_throttled_usage_plan() -> None:
    api = template()["Resources"]["ScoringApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    plan = api["Auth"]["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert set(plan["Throttle"]) == {"RateLimit", "BurstLimit"}
    open_routes = {
        props["Path"]
        for _, props in api_events()
        if props.get("Auth", {}).get("ApiKeyRequired") is False
    }
    assert open_routes == {"/v1/health"}


@pytest.mark.parametrize(
    ("function", "handler"),
    [
        ("BatchFunction", "score_whole_file"),
        ("BatchWorkerFunction", "score_batch_rows"),
        ("BatchRunFunction", "batch_run_step"),
    ],
)
def test_handlers_exist_in_the_app(function: str, handler: str) -> None:
    module = load_functions_app()
    assert functions()["ApiFunction"]["Handler"] == "app.handler"
    assert functions()[function]["Handler"] == f"app.{handler}"
    assert callable(getattr(module, handler))
    assert handler in module.app.handler_map  # registered with Chalice (@app.lambda_function)


def test_every_batch_file_starts_one_state_machine_run_and_nothing_else() -> None:
    """S3 sends object-created events to EventBridge; one rule starts BatchRuns for
    batch/input/*.csv. No function has its own S3 trigger, so no file is scored twice."""
    bucket = template()["Resources"]["BatchBucket"]["Properties"]
    assert bucket["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert all("Events" not in functions()[name] for name in BATCH_FUNCTIONS)
    (event,) = template()["Resources"]["BatchRuns"]["Properties"]["Events"].values()
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Fn::Sub": BATCH_BUCKET_NAME}]
    wildcard = f"{batch_files.INPUT_PREFIX}*{batch_files.INPUT_SUFFIX}"
    assert pattern["detail"]["object"]["key"] == [{"wildcard": wildcard}]
    for prefix in (batch_files.OUTPUT_PREFIX, batch_runs.RUNS_PREFIX):  # no loop
        assert not prefix.startswith(batch_files.INPUT_PREFIX)


@pytest.mark.parametrize("function", ["ApiFunction", *BATCH_FUNCTIONS])
def test_functions_run_on_python312_x86_64_from_the_built_package(function: str) -> None:
    merged = {**template()["Globals"]["Function"], **functions()[function]}
    assert merged["Runtime"] == "python3.12"
    assert merged["Architectures"] == ["x86_64"]
    assert merged["CodeUri"] == "build/lambda.zip"


def test_every_repository_path_the_template_names_exists() -> None:
    """A path such as ``infra/build_package.py`` in the template's text is a real file."""
    named = set(
        re.findall(r"\b((?:infra|functions|training|docs)/[\w./-]*\w)", TEMPLATE.read_text())
    )
    assert named, "the template names no repository path: the pattern is out of date"
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_api_function_runs_published_versions_from_a_snapstart_snapshot() -> None:
    """SnapStart only applies to published versions, so API Gateway must call one (through
    the alias SAM publishes on every deploy), and the function must avoid what SnapStart
    does not support (provisioned concurrency, EFS, ephemeral storage above 512 MB)."""
    api = {**template()["Globals"]["Function"], **functions()["ApiFunction"]}
    assert api["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert isinstance(api["AutoPublishAlias"], str) and api["AutoPublishAlias"]
    assert api["Runtime"] in {"python3.12", "python3.13"}  # SnapStart for Python: 3.12+
    assert "ProvisionedConcurrencyConfig" not in api
    assert "FileSystemConfigs" not in api
    assert api.get("EphemeralStorage", {}).get("Size", 512) <= 512


def test_the_snapshot_holds_a_loaded_model_and_restores_register_the_hook() -> None:
    """What SnapStart relies on in the code the handler imports: ``app`` initialises the
    container at import when Lambda runs it, and imports the module whose import registers
    the after-restore hook (a hook in a module the handler never imports is ignored)."""
    handler_module = functions()["ApiFunction"]["Handler"].split(".")[0]
    tree = ast.parse((FUNCTIONS_DIR / f"{handler_module}.py").read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "chalicelib"
        for alias in node.names
    }
    assert "lifecycle" in imported
    top_level_ifs = [statement for statement in tree.body if isinstance(statement, ast.If)]
    calls = {
        ast.unparse(node.func)
        for statement in top_level_ifs
        for node in ast.walk(statement)
        if isinstance(node, ast.Call)
    }
    assert {"lifecycle.in_lambda_init", "lifecycle.initialise"} <= calls
    lifecycle = ast.parse((CHALICELIB / "lifecycle.py").read_text())
    registered = {
        ast.unparse(node)
        for node in ast.walk(lifecycle)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "register_after_restore"
    }
    assert registered == {"register_after_restore(after_restore)"}


# --- alarms --------------------------------------------------------------------------------


def alarms() -> dict[str, dict[str, Any]]:
    return properties_of("AWS::CloudWatch::Alarm")


def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, str, str]]:
    """(namespace, metric, dimensions) of what the code really emits for a failed model load
    and each breaker opening, read back from Powertools' embedded metric format."""
    observability.model_load_failed("V", "a reason", serving=None)
    for name in (composition.CACHE_BREAKER, composition.HISTORY_BREAKER):
        observability.breaker_changed(name, breaker.OK, breaker.UNAVAILABLE)
    capsys.readouterr()
    observability.metrics.flush_metrics()
    found = set()
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line) if line.startswith('{"_aws"') else {}
        for block in record.get("_aws", {}).get("CloudWatchMetrics", []):
            (dimensions,) = block["Dimensions"]
            pairs = json.dumps(sorted((name, record[name]) for name in dimensions))
            found |= {(block["Namespace"], m["Name"], pairs) for m in block["Metrics"]}
    return found


def test_alarms_watch_the_metrics_the_code_emits(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One alarm per metric an operator must hear about, each on the name, namespace and
    dimensions the code emits (the names defined once, in chalicelib.observability)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    watched = {
        observability.MODEL_LOAD_FAILED,
        observability.breaker_metric(composition.CACHE_BREAKER, breaker.UNAVAILABLE),
        observability.breaker_metric(composition.HISTORY_BREAKER, breaker.UNAVAILABLE),
    }
    found = alarms()
    assert sorted(alarm["MetricName"] for alarm in found.values()) == sorted(watched)
    emitted = emitted_metrics(capsys)
    for name, alarm in found.items():
        dimensions = json.dumps(sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"]))
        assert (alarm["Namespace"], alarm["MetricName"], dimensions) in emitted, name
    namespace = template()["Globals"]["Function"]["Environment"]["Variables"]
    assert namespace["POWERTOOLS_METRICS_NAMESPACE"] == observability.NAMESPACE


def test_alarms_go_off_on_one_event_and_notify_the_optional_topic() -> None:
    parameter = template()["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""  # optional: no topic, no notifications
    notify = {"Fn::If": ["NotifyOnAlarm", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    condition = template()["Conditions"]["NotifyOnAlarm"]
    assert condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    for name, alarm in alarms().items():
        assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1), name
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", name
        assert alarm["TreatMissingData"] == "notBreaching", name  # no traffic, no alarm
        assert alarm["AlarmActions"] == alarm["OKActions"] == notify, name
    # A refused version is retried at most MAX_REFRESH_BACKOFF_SECONDS apart: the model
    # alarm's window must span that, or it would clear between two retries.
    model = next(a for a in alarms().values() if a["MetricName"] == observability.MODEL_LOAD_FAILED)
    window = model["Period"] * model["EvaluationPeriods"]
    assert model.get("DatapointsToAlarm", model["EvaluationPeriods"]) == 1
    assert window > config.MAX_REFRESH_BACKOFF_SECONDS
