"""The feature catalogue: the one place the 17 behavioural variables are described.

The row contract declares each column as an untrained :class:`Feature` (name and value
rules, ``chalicelib.contract.row.COLUMN_RULES``); this adds the words (label, description,
kind) and the transform (log1p). Training completes the same objects with what it learns
and writes them into the bundle's manifest; serving and the frontend read them from there,
never from here. ``valid_min``/``valid_max`` are hard bounds (a value outside is rejected);
the range seen in training is a softer bound recorded in the manifest.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from chalicelib.contract.feature import Feature
from chalicelib.contract.row import COLUMN_RULES, ID_FIELD

FeatureKind = Literal["amount", "score", "count", "months"]

ID_COLUMN = ID_FIELD
LIMIT_TARGET = "CREDIT_LIMIT"


# name -> (label, description, kind). Names, order, optional columns and bounds are the row
# contract's (chalicelib.contract.row.COLUMN_RULES); this adds the words and the transform.
_DESCRIPTIONS: dict[str, tuple[str, str, FeatureKind]] = {
    "BALANCE": ("Balance", "Balance amount left in the account to make purchases", "amount"),
    "BALANCE_FREQUENCY": (
        "Balance update frequency",
        "How frequently the balance is updated, score 0-1 (1 = frequently updated)",
        "score",
    ),
    "PURCHASES": ("Purchases", "Amount of purchases made from the account", "amount"),
    "ONEOFF_PURCHASES": ("One-off purchases", "Maximum purchase amount done in one go", "amount"),
    "INSTALLMENTS_PURCHASES": (
        "Instalment purchases",
        "Amount of purchases done in instalments",
        "amount",
    ),
    "CASH_ADVANCE": ("Cash advance", "Cash in advance given by the user", "amount"),
    "PURCHASES_FREQUENCY": (
        "Purchase frequency",
        "How frequently purchases are made, score 0-1 (1 = frequently)",
        "score",
    ),
    "ONEOFF_PURCHASES_FREQUENCY": (
        "One-off purchase frequency",
        "How frequently purchases happen in one go, score 0-1 (1 = frequently)",
        "score",
    ),
    "PURCHASES_INSTALLMENTS_FREQUENCY": (
        "Instalment purchase frequency",
        "How frequently purchases in instalments are done, score 0-1 (1 = frequently)",
        "score",
    ),
    # Described as a 0-1 score, but 8 real rows exceed 1 (up to 1.5): a ratio, not a
    # probability. Values above 1 are accepted; training reports them as a warning.
    "CASH_ADVANCE_FREQUENCY": (
        "Cash advance frequency",
        "How frequently the cash in advance is being paid (usually 0-1; values above 1 occur)",
        "score",
    ),
    "CASH_ADVANCE_TRX": (
        "Cash advance transactions",
        "Number of cash-advance transactions",
        "count",
    ),
    "PURCHASES_TRX": ("Purchase transactions", "Number of purchase transactions made", "count"),
    "CREDIT_LIMIT": ("Credit limit", "Credit limit of the card for the user", "amount"),
    "PAYMENTS": ("Payments", "Amount of payments done by the user", "amount"),
    "MINIMUM_PAYMENTS": (
        "Minimum payments",
        "Minimum amount of payments made by the user",
        "amount",
    ),
    "PRC_FULL_PAYMENT": (
        "Share of full payments",
        "Percent of full payment paid by the user, 0-1",
        "score",
    ),
    "TENURE": (
        "Tenure (months)",
        "Tenure of credit-card service for the user, in months",
        "months",
    ),
}
_LOG1P_KINDS = frozenset({"amount", "count"})


def _described(column: Feature) -> Feature:
    label, description, kind = _DESCRIPTIONS[column.name]
    return replace(
        column, label=label, description=description, kind=kind, log1p=kind in _LOG1P_KINDS
    )


FEATURES: tuple[Feature, ...] = tuple(_described(column) for column in COLUMN_RULES)
"""The row contract's columns with their words and transform; what training learns from
the data (range, imputation value) is added when the bundle is written."""

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
LOG1P_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.log1p)
LIMIT_MODEL_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n != LIMIT_TARGET)
