"""Input validation built from the bundle's feature schema (``manifest.features``).

Rules come from the manifest, never from training code: hard bounds (``valid_min``,
``valid_max``) reject a value, the training range (``train_min``, ``train_max``) only flags
it. Every offending field is reported at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.contract.feature import Feature
from chalicelib.contract.row import (
    BODY_FIELD,
    ID_FIELD,
    FieldProblem,
    check_id,
    check_value,
    format_number,
)
from chalicelib.errors import ValidationFailed


def out_of_training_range(feature: Feature, number: float) -> FieldProblem | None:
    """A valid value outside the training range: scored, but said so."""
    if feature.train_max is not None and number > feature.train_max:
        message = f"above the training maximum {format_number(feature.train_max)}; scored anyway"
        return FieldProblem(feature.name, message)
    if feature.train_min is not None and number < feature.train_min:
        message = f"below the training minimum {format_number(feature.train_min)}; scored anyway"
        return FieldProblem(feature.name, message)
    return None


@dataclass(frozen=True)
class ValidRecord:
    """A validated customer: one float (or ``None`` = missing) per feature, in graph order."""

    values: tuple[float | None, ...]
    customer_id: str | None = None
    imputed: tuple[str, ...] = ()
    flags: tuple[FieldProblem, ...] = field(default=())


class Validator:
    """Checks request rows against the manifest's feature schema.

    >>> Validator(manifest.features, "CUST_ID").validate({"BALANCE": 10.0, ...})
    """

    def __init__(self, features: Sequence[Feature], id_field: str = ID_FIELD) -> None:
        self.features = tuple(features)
        self.names = tuple(f.name for f in self.features)
        self.id_field = id_field
        self._known = {*self.names, id_field}

    def customer_id_of(self, row: Any) -> str | None:
        """The row's id if it has a usable one (used to label rejected batch rows)."""
        if isinstance(row, Mapping):
            customer_id, problem = check_id(row.get(self.id_field))
            return None if problem else customer_id
        return None

    def validate(self, row: Any) -> ValidRecord:
        """Return the validated row or raise :class:`ValidationFailed` listing every error.

        Values are checked by the row contract (:func:`check_value`): a string is never a
        number here; a CSV cell has already been through :func:`parse_cell`.
        """
        if not isinstance(row, Mapping):
            raise ValidationFailed.from_errors(
                [FieldProblem(BODY_FIELD, f"must be a JSON object, got {type(row).__name__}")]
            )
        errors = [FieldProblem(str(k), "is not a known field") for k in row if k not in self._known]
        customer_id, id_problem = check_id(row.get(self.id_field))
        if id_problem is not None:
            errors.append(FieldProblem(self.id_field, id_problem.message))
        flags: list[FieldProblem] = []
        values: list[float | None] = []
        imputed: list[str] = []
        for feature in self.features:
            number, problem = check_value(feature, row.get(feature.name))
            if problem is not None:
                errors.append(FieldProblem(feature.name, problem.message))
            elif number is None:
                imputed.append(feature.name)
            elif (flag := out_of_training_range(feature, number)) is not None:
                flags.append(flag)
            values.append(number)
        if errors:
            raise ValidationFailed.from_errors(errors)
        return ValidRecord(tuple(values), customer_id, tuple(imputed), tuple(flags))
