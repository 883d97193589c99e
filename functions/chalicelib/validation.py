"""Input validation built from the bundle's feature schema (``manifest.features``).

Rules come from the manifest, never from training code: hard bounds (``valid_min``,
``valid_max``) reject a value, the training range (``train_min``, ``train_max``) only flags
it. Every offending field is reported at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.errors import FieldError, ValidationFailed

# A serving-side ceiling for fields without a hard maximum: keeps float32 arithmetic in
# the graphs finite (a JSON number may be as large as 1e308) while staying far above any
# real card amount or count.
ABSOLUTE_MAX = 1e12
MAX_ID_LENGTH = 128
BODY_FIELD = "(body)"


@dataclass(frozen=True)
class FeatureRule:
    """The checks for one model input, read from a manifest feature entry."""

    name: str
    integer: bool
    valid_min: float | None
    valid_max: float | None
    train_min: float | None
    train_max: float | None
    optional: bool

    @classmethod
    def from_manifest(cls, entry: Mapping[str, Any]) -> FeatureRule:
        return cls(
            name=entry["name"],
            integer=bool(entry.get("integer", False)),
            valid_min=entry.get("valid_min"),
            valid_max=entry.get("valid_max"),
            train_min=entry.get("train_min"),
            train_max=entry.get("train_max"),
            optional=bool(entry.get("optional", False)),
        )


@dataclass(frozen=True)
class ValidRecord:
    """A validated customer: one float (or ``None`` = missing) per feature, in graph order."""

    values: tuple[float | None, ...]
    customer_id: str | None = None
    imputed: tuple[str, ...] = ()
    flags: tuple[FieldError, ...] = field(default=())


def _fmt(value: float) -> str:
    """A number as a client wrote it: ``5`` not ``5.0``, ``19043.14`` in full."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Validator:
    """Checks request rows against the manifest's feature schema.

    >>> Validator(manifest["features"], "CUST_ID").validate({"BALANCE": 10.0, ...})
    """

    def __init__(self, features: Sequence[Mapping[str, Any]], id_field: str = "CUST_ID") -> None:
        self.rules = tuple(FeatureRule.from_manifest(f) for f in features)
        self.names = tuple(r.name for r in self.rules)
        self.id_field = id_field
        self._known = {*self.names, id_field}

    def customer_id_of(self, row: Any) -> str | None:
        """The row's id if it has a usable one (used to label rejected batch rows)."""
        if isinstance(row, Mapping):
            value = row.get(self.id_field)
            if isinstance(value, str) and len(value) <= MAX_ID_LENGTH:
                return value
        return None

    def validate(self, row: Any) -> ValidRecord:
        """Return the validated row or raise :class:`ValidationFailed` listing every error."""
        if not isinstance(row, Mapping):
            raise ValidationFailed.from_errors(
                [FieldError(BODY_FIELD, f"must be a JSON object, got {type(row).__name__}")]
            )
        errors: list[FieldError] = []
        flags: list[FieldError] = []
        values: list[float | None] = []
        imputed: list[str] = []
        for key in row:
            if key not in self._known:
                errors.append(FieldError(str(key), "is not a known field"))
        customer_id = self._check_id(row, errors)
        for rule in self.rules:
            value = self._check_value(rule, row.get(rule.name), errors, flags)
            if value is None and rule.optional and not any(e.field == rule.name for e in errors):
                imputed.append(rule.name)
            values.append(value)
        if errors:
            raise ValidationFailed.from_errors(errors)
        return ValidRecord(tuple(values), customer_id, tuple(imputed), tuple(flags))

    def _check_id(self, row: Mapping[str, Any], errors: list[FieldError]) -> str | None:
        value = row.get(self.id_field)
        if value is None:
            return None
        if not isinstance(value, str):
            errors.append(FieldError(self.id_field, f"must be a string, got {_describe(value)}"))
            return None
        if len(value) > MAX_ID_LENGTH:
            errors.append(FieldError(self.id_field, f"must be at most {MAX_ID_LENGTH} characters"))
            return None
        return value

    @staticmethod
    def _check_value(
        rule: FeatureRule, value: Any, errors: list[FieldError], flags: list[FieldError]
    ) -> float | None:
        name = rule.name
        if value is None:
            if not rule.optional:
                errors.append(FieldError(name, "is required"))
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(FieldError(name, f"must be a number, got {_describe(value)}"))
            return None
        if isinstance(value, float) and not math.isfinite(value):
            errors.append(FieldError(name, f"must be a finite number, got {value}"))
            return None
        if abs(value) > ABSOLUTE_MAX:
            errors.append(FieldError(name, f"is out of range: magnitude above {ABSOLUTE_MAX:g}"))
            return None
        number = float(value)
        if rule.valid_min is not None and number < rule.valid_min:
            message = (
                f"must not be negative, got {_fmt(number)}"
                if rule.valid_min == 0
                else f"must be at least {_fmt(rule.valid_min)}, got {_fmt(number)}"
            )
            errors.append(FieldError(name, message))
            return None
        if rule.valid_max is not None and number > rule.valid_max:
            errors.append(
                FieldError(name, f"must be at most {_fmt(rule.valid_max)}, got {_fmt(number)}")
            )
            return None
        if rule.integer and not number.is_integer():
            errors.append(FieldError(name, f"must be a whole number, got {_fmt(number)}"))
            return None
        if rule.train_max is not None and number > rule.train_max:
            message = f"above the training maximum {_fmt(rule.train_max)}; scored anyway"
            flags.append(FieldError(name, message))
        elif rule.train_min is not None and number < rule.train_min:
            message = f"below the training minimum {_fmt(rule.train_min)}; scored anyway"
            flags.append(FieldError(name, message))
        return number
