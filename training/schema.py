"""The feature catalogue: the one place the 17 behavioural variables are described.

Training writes this catalogue (completed with the training ranges and medians) into the
bundle's manifest; serving and the frontend read it from there, never from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeatureKind = Literal["amount", "score", "count", "months"]

ID_COLUMN = "CUST_ID"
LIMIT_TARGET = "CREDIT_LIMIT"


@dataclass(frozen=True)
class Feature:
    """One model input, with the rules that make a value valid.

    ``valid_min``/``valid_max`` are hard bounds (a value outside is impossible and is
    rejected); the range seen in training is a softer bound recorded in the manifest.
    """

    name: str
    label: str
    description: str
    kind: FeatureKind
    integer: bool = False
    valid_min: float | None = 0.0
    valid_max: float | None = None
    optional: bool = False
    log1p: bool = False


def _amount(name: str, label: str, description: str, *, optional: bool = False) -> Feature:
    return Feature(name, label, description, "amount", optional=optional, log1p=True)


def _score(name: str, label: str, description: str, *, valid_max: float | None = 1.0) -> Feature:
    return Feature(name, label, description, "score", valid_max=valid_max)


def _count(name: str, label: str, description: str) -> Feature:
    return Feature(name, label, description, "count", integer=True, log1p=True)


FEATURES: tuple[Feature, ...] = (
    _amount("BALANCE", "Balance", "Balance amount left in the account to make purchases"),
    _score(
        "BALANCE_FREQUENCY",
        "Balance update frequency",
        "How frequently the balance is updated, score 0-1 (1 = frequently updated)",
    ),
    _amount("PURCHASES", "Purchases", "Amount of purchases made from the account"),
    _amount("ONEOFF_PURCHASES", "One-off purchases", "Maximum purchase amount done in one go"),
    _amount(
        "INSTALLMENTS_PURCHASES", "Instalment purchases", "Amount of purchases done in instalments"
    ),
    _amount("CASH_ADVANCE", "Cash advance", "Cash in advance given by the user"),
    _score(
        "PURCHASES_FREQUENCY",
        "Purchase frequency",
        "How frequently purchases are made, score 0-1 (1 = frequently)",
    ),
    _score(
        "ONEOFF_PURCHASES_FREQUENCY",
        "One-off purchase frequency",
        "How frequently purchases happen in one go, score 0-1 (1 = frequently)",
    ),
    _score(
        "PURCHASES_INSTALLMENTS_FREQUENCY",
        "Instalment purchase frequency",
        "How frequently purchases in instalments are done, score 0-1 (1 = frequently)",
    ),
    # Described as a 0-1 score, but 8 real rows exceed 1 (up to 1.5): a ratio, not a
    # probability. Values above 1 are accepted; training reports them as a warning.
    _score(
        "CASH_ADVANCE_FREQUENCY",
        "Cash advance frequency",
        "How frequently the cash in advance is being paid (usually 0-1; values above 1 occur)",
        valid_max=None,
    ),
    _count("CASH_ADVANCE_TRX", "Cash advance transactions", "Number of cash-advance transactions"),
    _count("PURCHASES_TRX", "Purchase transactions", "Number of purchase transactions made"),
    _amount("CREDIT_LIMIT", "Credit limit", "Credit limit of the card for the user", optional=True),
    _amount("PAYMENTS", "Payments", "Amount of payments done by the user"),
    _amount(
        "MINIMUM_PAYMENTS",
        "Minimum payments",
        "Minimum amount of payments made by the user",
        optional=True,
    ),
    _score(
        "PRC_FULL_PAYMENT",
        "Share of full payments",
        "Percent of full payment paid by the user, 0-1",
    ),
    Feature(
        "TENURE",
        "Tenure (months)",
        "Tenure of credit-card service for the user, in months",
        "months",
        integer=True,
        valid_min=1.0,
    ),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURES_BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
LOG1P_FEATURES: tuple[str, ...] = tuple(f.name for f in FEATURES if f.log1p)
LIMIT_MODEL_FEATURES: tuple[str, ...] = tuple(n for n in FEATURE_NAMES if n != LIMIT_TARGET)
