"""``POST /v1/drift/report``: the drift report of tallies a client sends, answered, not stored.

The CSV batch route answers each body's drift tally (:mod:`chalicelib.drift.tally`); a
client that scored a file in pieces sends them here and gets the report of the whole file,
built by the same :func:`chalicelib.drift.stats.build_report` as a batch file's, so the
Batch page and the Monitoring page show the same figures for the same rows. Nothing is
written anywhere: there is no previous run to compare with, so no migration.

The answer's ``tally`` is the sum, itself a tally: a client with more pieces than one
request holds (:data:`chalicelib.api.limits.MAX_TALLIES`) sends it back with the next ones.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.limits import MAX_TALLIES
from chalicelib.contract.row import BODY_FIELD, FieldProblem
from chalicelib.drift import stats
from chalicelib.drift.reports import MAX_NAME_LENGTH, now_iso, valid_name
from chalicelib.drift.tally import DriftTally, merge_tallies, read_tally
from chalicelib.errors import ValidationFailed
from chalicelib.scoring.model import ScoringModel

NAME_FIELD, TALLIES_FIELD = "name", "tallies"
DEFAULT_NAME = "upload"
#: A client's mistakes are listed up to this many (a body of wrong counts could hold 10^5).
MAX_PROBLEMS = 50


def report_body(model: ScoringModel, body: Any) -> dict[str, Any]:
    """``{"tally": <the sum>, "report": <the report of the sum>}``, or a 400 naming each
    wrong field. The tallies must have been counted with ``model``, the one serving now."""
    name, sent = _envelope(body)
    reference = stats.reference_of(model.manifest)
    tallies: list[DriftTally] = []
    problems: list[FieldProblem] = []
    for i, entry in enumerate(sent):
        read = read_tally(entry, reference, f"{TALLIES_FIELD}[{i}]")
        if isinstance(read, DriftTally):
            problems += _other_model(read, model, i)
            tallies.append(read)
        else:
            problems += read
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        raise ValidationFailed.from_errors(problems[:MAX_PROBLEMS])
    total = merge_tallies(tallies)
    report = stats.build_report(
        total.counts,
        reference,
        name=name,
        created_at=now_iso(),
        model_version=total.model_version,
        rows_in_file=total.data_rows,
    )
    return {"tally": total.to_json(), "report": report}


def _envelope(body: Any) -> tuple[str, list[Any]]:
    """``{"name": ..., "tallies": [...]}``: the report's name and the tallies, unread."""
    if not isinstance(body, dict):
        message = 'must be a JSON object {"name": ..., "tallies": [...]}'
        raise ValidationFailed.from_errors([FieldProblem(BODY_FIELD, message)])
    problems = [
        FieldProblem(str(k)[:40], "is not a known field")
        for k in body
        if k not in {NAME_FIELD, TALLIES_FIELD}
    ]
    name = body.get(NAME_FIELD, DEFAULT_NAME)
    if not isinstance(name, str) or not valid_name(name):
        message = f"must be a file name of 1 to {MAX_NAME_LENGTH} printable characters"
        problems.append(FieldProblem(NAME_FIELD, message))
    sent: Any = body.get(TALLIES_FIELD)
    if not isinstance(sent, list) or not 1 <= len(sent) <= MAX_TALLIES:
        got = f"{len(sent)}" if isinstance(sent, list) else repr(sent)[:40]
        message = f"must be a list of 1 to {MAX_TALLIES} drift tallies, got {got}"
        problems.append(FieldProblem(TALLIES_FIELD, message))
    if problems:
        raise ValidationFailed.from_errors(problems)
    return name, list(sent)


def _other_model(tally: DriftTally, model: ScoringModel, i: int) -> list[FieldProblem]:
    """A tally counted against another model than the one serving (e.g. the file was
    scored before a promotion): its bins follow another reference."""
    if tally.model_version == model.version:
        return []
    message = (
        f"was counted with model {tally.model_version!r}, the API serves {model.version!r} "
        "now: score the file again"
    )
    return [FieldProblem(f"{TALLIES_FIELD}[{i}].model_version", message)]
