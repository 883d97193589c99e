"""``POST /v1/segment/path``: what would make this customer a typical member of segment X.

The request ``{"customer": {...}, "target_segment": <id>, "may_change": [<column>, ...]}``
is read here: the customer by the model's own validator (the row contract, the errors of
``POST /v1/segment``, each field named ``customer.<field>``), the target and
``may_change`` by :func:`chalicelib.paths.request_problems`; every problem is answered at
once (400). The path comes from :mod:`chalicelib.paths` (docs/paths.md); this module only
renders it: a :class:`~chalicelib.paths.Path` as the 200 answer, a
:class:`~chalicelib.paths.Refusal` as a 422 problem+json that says why.

``check`` is the proposed row scored again by the same model, exactly as
``POST /v1/segment`` would score it (segment, typicality, map position); the customer's
own scoring gives ``from_segment`` and its map position, so a client can draw the arrow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.contract.row import BODY_FIELD, FieldProblem
from chalicelib.errors import NoPath, ValidationFailed
from chalicelib.paths import (
    Breach,
    Change,
    Path,
    PathFinder,
    PathRequest,
    Refusal,
    request_problems,
)
from chalicelib.paths.request import MAY_CHANGE_FIELD, TARGET_FIELD
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.scored import Scored
from chalicelib.scoring.validator import ValidRecord

CUSTOMER_FIELD = "customer"
FIELDS = (CUSTOMER_FIELD, TARGET_FIELD, MAY_CHANGE_FIELD)
#: Decimals of a change and of a relation's excess (the data set writes values with six).
DECIMALS = 6
COST_DECIMALS = 6

Json = dict[str, Any]


def path_body(
    model: ScoringModel, finder_of: Callable[[ScoringModel], PathFinder], body: Any
) -> Json:
    """The answer to one path request with ``model`` (the one serving now): a 200 body, or
    :class:`ValidationFailed` (400) / :class:`NoPath` (422); ``finder_of`` gives the
    model's path finder (or raises ``PathsUnavailable``, 503)."""
    finder = finder_of(model)
    record, target, may_change = _read(model, finder, body)
    allowed = None if may_change is None else frozenset(may_change)
    (result,) = finder.answer_many([PathRequest(record.values, target, allowed)])
    customer, proposed = model.score(
        [record, ValidRecord(result.proposed if isinstance(result, Path) else record.values)]
    )
    allowed_names = _allowed(model, finder, may_change)
    if not isinstance(result, Path):
        raise _no_path(model, finder, result, customer, allowed_names)
    return _answer(model, finder, record, result, customer, proposed, allowed_names)


# -- reading the request ---------------------------------------------------------------------


def _read(
    model: ScoringModel, finder: PathFinder, body: Any
) -> tuple[ValidRecord, int, list[str] | None]:
    """The validated customer, the target and ``may_change``, or a 400 naming every problem."""
    if not isinstance(body, Mapping):
        message = 'must be a JSON object {"customer": {...}, "target_segment": <id>}'
        raise ValidationFailed.from_errors([FieldProblem(BODY_FIELD, message)])
    problems = [FieldProblem(str(k), "is not a known field") for k in body if k not in FIELDS]
    record, customer_problems = _customer(model, body.get(CUSTOMER_FIELD))
    problems += customer_problems
    target: Any = body.get(TARGET_FIELD)
    may_change: Any = body.get(MAY_CHANGE_FIELD)
    validator = model.validator
    problems += [
        FieldProblem(p.field, p.message)
        for p in request_problems(
            target, may_change, model.k, validator.names, validator.id_field, finder.immutable
        )
    ]
    if problems or record is None:
        raise ValidationFailed.from_errors(problems)
    return record, target, may_change  # request_problems checked both


def _customer(model: ScoringModel, row: Any) -> tuple[ValidRecord | None, list[FieldProblem]]:
    """The customer validated as ``POST /v1/segment`` validates a body; its problems' fields
    are prefixed ``customer.`` (the body as a whole: ``customer``)."""
    if row is None:
        return None, [FieldProblem(CUSTOMER_FIELD, "is required")]
    try:
        return model.validator.validate(row), []
    except ValidationFailed as error:
        return None, [_prefixed(problem) for problem in error.errors]


def _prefixed(problem: FieldProblem) -> FieldProblem:
    if problem.field == BODY_FIELD:
        return FieldProblem(CUSTOMER_FIELD, problem.message)
    return FieldProblem(f"{CUSTOMER_FIELD}.{problem.field}", problem.message)


# -- the answers -----------------------------------------------------------------------------


def _answer(
    model: ScoringModel,
    finder: PathFinder,
    record: ValidRecord,
    path: Path,
    customer: Scored,
    proposed: Scored,
    allowed: list[str],
) -> Json:
    """The 200 body (docs/api.md, "Path to a segment")."""
    names = model.features
    integer = finder.space.integer.tolist()
    return {
        "customer_id": record.customer_id,
        "model_version": model.version,
        "from_segment": _segment(customer.segment.id, customer.segment.name),
        "target_segment": _segment(path.target, finder.space.segment_names[path.target]),
        "may_change": allowed,
        "proposed": {
            model.validator.id_field: record.customer_id,
            **{
                name: _value(value, whole)
                for name, value, whole in zip(names, path.proposed, integer, strict=True)
            },
        },
        "changes": [
            _change(change, integer[finder.space.index(change.feature)]) for change in path.changes
        ],
        "cost": round(path.cost, COST_DECIMALS),
        "check": {
            "segment": _segment(proposed.segment.id, proposed.segment.name),
            "typicality": proposed.typicality.to_json(),
        },
        "map_positions": {"customer": _position(customer), "proposed": _position(proposed)},
        "flags": [_breach(flag) for flag in path.flags],
    }


def _allowed(model: ScoringModel, finder: PathFinder, may_change: list[str] | None) -> list[str]:
    """The variables allowed to move, in model order (the default when none is named)."""
    movable = finder.movable(may_change).tolist()
    return [name for name, ok in zip(model.features, movable, strict=True) if ok]


def _no_path(
    model: ScoringModel,
    finder: PathFinder,
    refusal: Refusal,
    customer: Scored,
    allowed: list[str],
) -> NoPath:
    """The 422: the refusal's sentence, one field problem per fixed variable that keeps the
    customer out (or ``may_change`` when none alone does), and the refusal as members."""
    errors = [
        FieldProblem(b.feature, f"may not change ({_shown(b.value)}) and alone uses "
                                f"{b.share:.0%} of the target's typical radius (squared)")
        for b in refusal.blockers
    ] or [FieldProblem(MAY_CHANGE_FIELD, refusal.message)]  # fmt: skip
    details = {
        "reason": refusal.reason.value,
        "model_version": model.version,
        "from_segment": _segment(customer.segment.id, customer.segment.name),
        "target_segment": _segment(refusal.target, finder.space.segment_names[refusal.target]),
        "may_change": allowed,
        "blockers": [
            {"feature": b.feature, "value": b.value, "share": round(b.share, 4)}
            for b in refusal.blockers
        ],
        "flags": [_breach(flag) for flag in refusal.flags],
    }
    return NoPath(refusal.message, errors, details)


def _change(change: Change, whole: bool) -> Json:
    """One variable that changes, in the data's units (``from``: the imputed default when
    the customer's value was missing, ``imputed``)."""
    return {
        "feature": change.feature,
        "from": _value(change.before, whole),
        "to": _value(change.after, whole),
        "change": _value(round(change.change, DECIMALS) + 0.0, whole),
        "imputed": change.imputed,
    }


def _segment(segment_id: int, name: str) -> Json:
    return {"id": segment_id, "name": name}


def _position(scored: Scored) -> Json:
    return {"x": scored.map_x, "y": scored.map_y}


def _breach(breach: Breach) -> Json:
    return {
        "relation": breach.relation,
        "fields": list(breach.fields),
        "excess": round(breach.excess, DECIMALS),
    }


def _value(value: float | None, whole: bool) -> float | int | None:
    """A value in the data's units: whole numbers (counts, months) as integers."""
    if value is None:
        return None
    return int(value) if whole else value


def _shown(value: float) -> str:
    return f"{value:g}"
