"""The BatchRuns state machine as template.yaml defines it, with its substitutions made.

CloudFormation replaces each ``${Name}`` of the definition with ``DefinitionSubstitutions``
before Step Functions sees it; :func:`definition` does the same with the parameters'
defaults (or the values given) and dummy function ARNs, so tests and the local map driver
read exactly the numbers that would be deployed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
STATE_MACHINE = "BatchRuns"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")
ACCOUNT, REGION = "123456789012", "us-east-1"


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return loaded


def properties() -> dict[str, Any]:
    props: dict[str, Any] = template()["Resources"][STATE_MACHINE]["Properties"]
    return props


def function_arn(resource: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{resource}"


def substitutions(**overrides: str) -> dict[str, str]:
    """Each substitution's deployed value: a parameter's default or a function's ARN."""
    tpl = template()
    values = {}
    for name, value in properties()["DefinitionSubstitutions"].items():
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn", value
            values[name] = function_arn(resource)
        else:
            values[name] = str(tpl["Parameters"][value["Ref"]]["Default"])
    values.update(overrides)
    return values


def definition(**overrides: str) -> dict[str, Any]:
    """The definition Step Functions would receive."""
    values = substitutions(**overrides)
    text = PLACEHOLDER.sub(lambda m: values[m.group(1)], json.dumps(properties()["Definition"]))
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def limits(**overrides: str) -> dict[str, int]:
    """What the Configure state computes from its ``States.StringToJson`` substitutions."""
    configure = definition(**overrides)["States"]["Configure"]["Parameters"]["limits"]
    found = {}
    for name, expression in configure.items():
        match = re.fullmatch(r"States\.StringToJson\('(\d+)'\)", expression)
        assert match, expression
        found[name.removesuffix(".$")] = int(match.group(1))
    return found
