"""A shallow decision tree that restates the segments as readable rules.

KMeans boundaries live in a scaled, log-transformed space no business user reads. A
depth-3 tree fitted on the raw values (imputed with the training medians) to predict the
segment gives "PURCHASES <= 300 and CASH_ADVANCE > 1200"-style rules, and its agreement
with KMeans says how far those rules can be trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from chalicelib.contract.training_report import Surrogate as SurrogateSection
from numpy.typing import NDArray
from sklearn.tree import DecisionTreeClassifier

from training.schema import FEATURE_NAMES

MAX_DEPTH = 3


@dataclass(frozen=True)
class Surrogate:
    """The per-segment rules and the tree's agreement with the KMeans labels."""

    rules: dict[int, list[str]]
    agreement: float

    def section(self) -> SurrogateSection:
        """The manifest's ``surrogate`` section."""
        return SurrogateSection(max_depth=MAX_DEPTH, agreement=round(self.agreement, 6))


def _number(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.0f}".replace(",", "")


def _leaf_rules(tree: DecisionTreeClassifier) -> list[tuple[int, int, str]]:
    """(predicted class, samples, rule text) for every leaf, conditions simplified."""
    t = tree.tree_
    leaves: list[tuple[int, int, str]] = []

    def walk(node: int, bounds: dict[int, list[float | None]]) -> None:
        if t.children_left[node] == -1:
            parts = []
            for feature, (low, high) in sorted(bounds.items()):
                name = FEATURE_NAMES[feature]
                if low is not None:
                    parts.append(f"{name} > {_number(low)}")
                if high is not None:
                    parts.append(f"{name} <= {_number(high)}")
            label = int(tree.classes_[int(np.argmax(t.value[node][0]))])
            leaves.append((label, int(t.n_node_samples[node]), " and ".join(parts) or "always"))
            return
        feature, threshold = int(t.feature[node]), float(t.threshold[node])
        low, high = bounds.get(feature, [None, None])
        left = {**bounds, feature: [low, threshold if high is None else min(high, threshold)]}
        right = {**bounds, feature: [threshold if low is None else max(low, threshold), high]}
        walk(int(t.children_left[node]), left)
        walk(int(t.children_right[node]), right)

    walk(0, {})
    return leaves


def fit_surrogate(
    imputed_raw: NDArray[np.float64], labels: NDArray[np.int64], k: int, seed: int
) -> Surrogate:
    """Fit the depth-3 tree; collect each segment's leaves as rules, biggest leaf first."""
    tree = DecisionTreeClassifier(max_depth=MAX_DEPTH, random_state=seed)
    tree.fit(imputed_raw, labels)
    agreement = float(np.mean(tree.predict(imputed_raw) == labels))
    rules: dict[int, list[str]] = {segment: [] for segment in range(k)}
    for label, _samples, text in sorted(_leaf_rules(tree), key=lambda leaf: -leaf[1]):
        rules[label].append(text)
    return Surrogate(rules=rules, agreement=agreement)
