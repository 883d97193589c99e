"""The BatchRuns state machine in template.yaml: its states, the resources it names, its
batch size against the payload limit, its IAM, and that Step Functions (moto) accepts it.

cfn-lint does not look inside a SAM state machine's definition, so the definition is
substituted as CloudFormation would and linted again as a native
``AWS::StepFunctions::StateMachine`` (rule E3601 checks it against the ASL schema).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from tests.functions.conftest import FUNCTIONS_DIR  # noqa: F401  (functions/ on sys.path)
from tests.infra import state_machine
from tests.infra.test_template import BATCH_BUCKET_NAME, batch_arn

from chalicelib.batch import files as batch_files  # isort: skip
from chalicelib.batch import runs as batch_runs  # isort: skip
from chalicelib.api import limits  # isort: skip

DATA = Path(__file__).resolve().parents[2] / "data" / "CC_GENERAL.csv"
PAYLOAD_LIMIT = 256 * 1024
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        if state["Type"] == "Map":
            yield from tasks(state["ItemProcessor"]["States"])


def test_the_states_and_the_distributed_map() -> None:
    definition = state_machine.definition()
    states = definition["States"]
    assert definition["StartAt"] == "Configure"
    assert set(states) == {
        "Configure", "Route", "ScoreWholeFile", "Prepare", "Ready", "Answered", "Score",
        "Plan", "Combine", "Finish", "FinishStopped",
    }  # fmt: skip
    score = states["Score"]
    assert score["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "EXPRESS",
    }
    assert score["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
        "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
    }
    # Each row keeps its position in the file: row numbers are the file's.
    assert score["ItemSelector"] == {"index.$": "$$.Map.Item.Index", "row.$": "$$.Map.Item.Value"}
    assert score["ItemBatcher"]["BatchInput"] == {"run.$": "$.prepared.output.run"}
    assert score["ResultWriter"]["Parameters"]["Prefix.$"] == "$.prepared.output.map_prefix"
    for name in ("Score", "Plan", "Combine"):  # a stopped run still gets its summary
        (catch,) = states[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "FinishStopped"
    assert states["Ready"]["Choices"] == [
        {"Variable": "$.prepared.status", "StringEquals": "ready", "Next": "Score"}
    ]
    for finish in ("Finish", "FinishStopped"):
        assert states[finish]["Parameters"]["Payload"]["step"] == "finish"
    assert states["Combine"]["ItemSelector"]["step"] == "combine"


def test_sizes_concurrency_and_failure_tolerance_are_stack_parameters() -> None:
    params = state_machine.template()["Parameters"]
    substitutions = state_machine.properties()["DefinitionSubstitutions"]
    assert substitutions["WholeFileMaxBytes"] == {"Ref": "BatchWholeFileMaxBytes"}
    assert substitutions["MaxConcurrency"] == {"Ref": "BatchMaxConcurrency"}
    assert substitutions["ToleratedFailurePercentage"] == {"Ref": "BatchToleratedFailurePercentage"}
    assert (
        params["BatchMaxConcurrency"]["MinValue"],
        params["BatchMaxConcurrency"]["MaxValue"],
    ) == (
        1,
        10_000,  # Distributed Map's maximum of concurrent child workflows
    )
    assert state_machine.limits(MaxConcurrency="7", ToleratedFailurePercentage="3") == {
        "whole_file_max_bytes": params["BatchWholeFileMaxBytes"]["Default"],
        "max_concurrency": 7,
        "tolerated_failure_percentage": 3,
    }
    states = state_machine.definition()["States"]
    assert states["Score"]["MaxConcurrencyPath"] == "$.limits.max_concurrency"
    assert (
        states["Score"]["ToleratedFailurePercentagePath"] == "$.limits.tolerated_failure_percentage"
    )
    (route,) = states["Route"]["Choices"]
    assert route == {
        "Variable": "$.size",
        "NumericLessThanEqualsPath": "$.limits.whole_file_max_bytes",
        "Next": "ScoreWholeFile",
    }
    assert states["Route"]["Default"] == "Prepare"


def test_every_task_invokes_a_batch_function_of_the_template_with_its_handler() -> None:
    resources = state_machine.template()["Resources"]
    substitutions = state_machine.properties()["DefinitionSubstitutions"]
    called = {}
    for name, task in tasks(state_machine.properties()["Definition"]["States"]):
        assert task["Resource"] == LAMBDA_INVOKE, name
        placeholder = task["Parameters"]["FunctionName"]
        (function, _) = substitutions[placeholder.strip("${}")]["Fn::GetAtt"]
        called[name] = function
    assert called == {
        "ScoreWholeFile": "BatchFunction",
        "Prepare": "BatchRunFunction",
        "ScoreRows": "BatchWorkerFunction",
        "Plan": "BatchRunFunction",
        "CombineSegment": "BatchRunFunction",
        "Finish": "BatchRunFunction",
        "FinishStopped": "BatchRunFunction",
    }
    for function in set(called.values()):
        assert resources[function]["Type"] == "AWS::Serverless::Function"
    used = set(
        state_machine.PLACEHOLDER.findall(json.dumps(state_machine.properties()["Definition"]))
    )
    assert used == set(substitutions)  # nothing left unsubstituted, nothing unused


def test_every_task_retries_throttling_with_backoff() -> None:
    for name, task in tasks(state_machine.definition()["States"]):
        throttled = [
            r for r in task["Retry"] if "Lambda.TooManyRequestsException" in r["ErrorEquals"]
        ]
        assert throttled, name
        assert throttled[0]["BackoffRate"] >= 2 and throttled[0]["MaxAttempts"] >= 3, name


def test_a_batch_stays_under_the_256_kib_payload_limit() -> None:
    batcher = state_machine.definition()["States"]["Score"]["ItemBatcher"]
    items, item_bytes = batcher["MaxItemsPerBatch"], batcher["MaxInputBytesPerBatch"]
    # The largest BatchInput: a header of the most Step Functions reads (10 KiB).
    names = [f"C{n:04d}" for n in range(batch_runs.MAX_HEADER_BYTES // 6)]
    run = batch_runs.Run("b" * 63, "batch/input/" + "k" * 1000, "x" * 80, names, "v" * 80, 0.0)
    envelope = json.dumps({"BatchInput": {"run": run.__dict__}, "Items": []}).encode()
    assert item_bytes + len(envelope) <= PAYLOAD_LIMIT, (item_bytes, len(envelope))
    # Real rows are far from the byte cap, so batches are full (see the next test).
    with DATA.open() as handle:
        header, *rows = [line.rstrip("\n").split(",") for line in handle]
    sizes = sorted(
        len(json.dumps({"index": 10**9, "row": dict(zip(header, r, strict=True))})) + 1
        for r in rows
    )
    assert sum(sizes[-items:]) < item_bytes  # even the largest rows of the data set
    assert items <= limits.MAX_BATCH


def test_full_batches_meet_the_scoring_kernels_as_the_one_invocation_path_does() -> None:
    """onnxruntime's float32 kernels give a row's distances bits that depend on its position
    mod 4 within the call. Batches of a multiple of 4 that divides the one-invocation
    chunks put every row at the same position mod 4 on both paths: identical files."""
    items = state_machine.definition()["States"]["Score"]["ItemBatcher"]["MaxItemsPerBatch"]
    assert items % 4 == 0 and batch_files.CHUNK_ROWS % items == 0


def test_the_state_machine_role_is_least_privilege() -> None:
    by_sid = {s["Sid"]: s for s in state_machine.properties()["Policies"][0]["Statement"]}
    invoked = {f["Fn::GetAtt"][0] for f in by_sid["InvokeBatchFunctions"]["Resource"]}
    assert invoked == {"BatchFunction", "BatchWorkerFunction", "BatchRunFunction"}
    assert by_sid["InvokeBatchFunctions"]["Action"] == "lambda:InvokeFunction"
    assert (by_sid["ReadInputRows"]["Action"], by_sid["ReadInputRows"]["Resource"]) == (
        "s3:GetObject",
        batch_arn(batch_files.INPUT_PREFIX),
    )
    # ResultWriter's documented needs, on the runs prefix only.
    assert by_sid["WriteMapResults"]["Resource"] == batch_arn(batch_runs.RUNS_PREFIX)
    assert set(by_sid["WriteMapResults"]["Action"]) == {
        "s3:PutObject", "s3:GetObject", "s3:ListMultipartUploadParts", "s3:AbortMultipartUpload",
    }  # fmt: skip
    name = state_machine.properties()["Name"]["Fn::Sub"]
    machine = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:" + name
    assert by_sid["RunChildWorkflows"] == {
        "Sid": "RunChildWorkflows", "Effect": "Allow", "Action": "states:StartExecution",
        "Resource": {"Fn::Sub": machine},
    }  # fmt: skip
    executions = by_sid["WatchChildWorkflows"]["Resource"]["Fn::Sub"]
    assert executions.endswith(f":execution:{name}/*")
    assert set(by_sid) == {
        "InvokeBatchFunctions", "ReadInputRows", "WriteMapResults", "RunChildWorkflows",
        "WatchChildWorkflows",
    }  # fmt: skip
    assert BATCH_BUCKET_NAME in by_sid["ReadInputRows"]["Resource"]["Fn::Sub"]


def test_cfn_lint_validates_the_substituted_definition(tmp_path: Path) -> None:
    native = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "BatchRuns": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/batch-runs",
                    "Definition": state_machine.definition(),
                },
            }
        },
    }
    path = tmp_path / "native.json"
    path.write_text(json.dumps(native))
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_moto_step_functions_creates_it() -> None:
    definition = json.dumps(state_machine.definition())
    with mock_aws():
        client = boto3.client("stepfunctions", region_name=state_machine.REGION)
        arn = client.create_state_machine(
            name="cc-segmentation-batch-runs",
            definition=definition,
            roleArn=f"arn:aws:iam::{state_machine.ACCOUNT}:role/batch-runs",
            type="STANDARD",
        )["stateMachineArn"]
        described = client.describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"]) == json.loads(definition)
    assert described["status"] == "ACTIVE"
