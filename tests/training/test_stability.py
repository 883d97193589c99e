"""Bootstrap stability: ARI per k, Jaccard per segment, and the rule that may move k."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.contract.codec import encode
from sklearn.cluster import KMeans

from tests.fixtures_bundle import REAL_DATA
from training import elbow, stability
from training.pipeline import BundleSummary
from training.preprocess import make_preprocessor
from training.schema import FEATURE_NAMES
from training.validation import validate_file


@pytest.fixture(scope="module")
def real_sample() -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """1,500 real customers in model space and their KMeans labels for k = 2..4."""
    frame = validate_file(REAL_DATA).frame
    assert frame is not None
    raw = frame.loc[:, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)
    rows = np.random.default_rng(0).choice(len(raw), size=1500, replace=False)
    scaled = make_preprocessor().fit_transform(raw[rows])
    labels = {k: KMeans(k, n_init=3, random_state=42).fit_predict(scaled) for k in (2, 3, 4)}
    return scaled, labels


def _assess(
    sample: tuple[np.ndarray, dict[int, np.ndarray]], seed: int
) -> stability.StabilityResult:
    scaled, labels = sample
    return stability.assess(scaled, labels, seed=seed, resamples=5, sample_size=600)


def test_stability_on_real_data_is_reproducible_with_the_seed(
    real_sample: tuple[np.ndarray, dict[int, np.ndarray]],
) -> None:
    first, again = _assess(real_sample, 42), _assess(real_sample, 42)
    assert first.ari_mean == again.ari_mean and first.ari_min == again.ari_min
    assert sorted(first.ari_mean) == [2, 3, 4]
    assert all(0.0 < v <= 1.0 for v in first.ari_mean.values())
    labels = real_sample[1][3]
    assert stability.segment_jaccard(labels, 3, first.runs[3]) == stability.segment_jaccard(
        labels, 3, again.runs[3]
    )
    other = _assess(real_sample, 7)
    assert other.ari_mean != first.ari_mean  # the seed really drives the resamples


def test_well_separated_blobs_are_perfectly_stable() -> None:
    rng = np.random.default_rng(1)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.vstack([c + rng.normal(0, 0.5, size=(100, 2)) for c in centers])
    labels = {k: KMeans(k, n_init=3, random_state=0).fit_predict(points) for k in (2, 3)}
    result = stability.assess(points, labels, seed=3, resamples=4, sample_size=300)
    assert result.ari_mean[3] == pytest.approx(1.0)
    assert result.is_stable(3)
    assert stability.segment_jaccard(labels[3], 3, result.runs[3]) == pytest.approx([1.0] * 3)


def test_segment_jaccard_is_the_mean_best_match_hand_worked() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])
    runs = [
        # Same partition, other ids: every segment matches perfectly.
        stability.Resample(np.arange(6), np.array([5, 5, 5, 3, 3, 4])),
        # Segment 0 loses a row to segment 1's cluster; segment 2 not drawn at all.
        stability.Resample(np.arange(5), np.array([0, 0, 1, 1, 1])),
    ]
    # Run 2: seg 0 {0,1,2} vs cluster 0 {0,1} -> 2/3; seg 1 {3,4} vs cluster 1 {2,3,4} -> 2/3.
    assert stability.segment_jaccard(labels, 3, runs) == pytest.approx(
        [(1 + 2 / 3) / 2, (1 + 2 / 3) / 2, 0.5]
    )


def _result(ari: dict[int, float]) -> stability.StabilityResult:
    return stability.StabilityResult(
        resamples=1,
        sample_size=10,
        n_init=1,
        seed=0,
        ari_mean=ari,
        ari_min=ari,
        samples=[],
        runs={},
    )


@pytest.mark.parametrize(
    ("ari", "rule", "expected_k", "moved"),
    [
        ({2: 0.95, 3: 0.93, 4: 0.6}, "knee", 3, False),  # stable knee: kept
        ({2: 0.95, 3: 0.7, 4: 0.92, 5: 0.5}, "knee", 2, True),  # tie at distance 1: smaller
        ({2: 0.8, 3: 0.7, 4: 0.5, 5: 0.91}, "knee", 5, True),  # nearest stable is 2 away
        ({2: 0.95, 3: 0.7}, "override", 3, False),  # an override is never moved
        ({2: 0.5, 3: 0.7}, "knee", 3, False),  # nothing stable: the knee stays
    ],
)
def test_choose_k_keeps_a_stable_knee_or_takes_the_nearest_stable_k(
    ari: dict[int, float], rule: str, expected_k: int, moved: bool
) -> None:
    k, reason = stability.choose_k(3, rule, [1, *sorted(ari)], _result(ari))
    assert k == expected_k
    assert (reason is None) == (ari[3] >= stability.STABLE_ARI)
    if moved:
        assert reason is not None and f"nearest stable k={expected_k}" in reason
        assert "0.700" in reason and str(stability.STABLE_ARI) in reason


def test_apply_choice_records_the_move_in_the_elbow_decision() -> None:
    rng = np.random.default_rng(2)
    points = np.vstack([c + rng.normal(0, 0.3, size=(60, 2)) for c in ([0, 0], [8, 0], [0, 8])])
    chosen = elbow.analyse(points, (1, 5), seed=0, progress=False)
    assert chosen.k == 3 and chosen.k_source == "knee"
    moved, reason = stability.apply_choice(chosen, _result({2: 0.95, 3: 0.5, 4: 0.8, 5: 0.8}))
    assert (moved.k, moved.k_source) == (2, "stability")
    assert reason in moved.notes and moved.to_json()["k_source"] == "stability"
    kept, none = stability.apply_choice(chosen, _result({2: 0.95, 3: 0.99}))
    assert kept is chosen and none is None


def test_the_real_bundle_records_stability_and_how_k_was_chosen(
    trained_bundle: BundleSummary,
) -> None:
    section = encode(trained_bundle.manifest.stability)
    assert section is not None
    assert section["resamples"] >= 20
    assert section["threshold"] == stability.STABLE_ARI
    assert list(section["ari_mean"]) == [str(k) for k in range(2, 11)]
    assert section["k"] == trained_bundle.k == trained_bundle.manifest.elbow.k
    assert section["rule"] == "knee" and section["reason"]
    if section["rule_k"] != section["k"]:
        assert trained_bundle.k_source == "stability"
    assert section["ari_mean"][str(trained_bundle.k)] >= stability.STABLE_ARI
    assert [s["id"] for s in section["segments"]] == list(range(trained_bundle.k))
    assert all(0.0 <= s["jaccard"] <= 1.0 for s in section["segments"])
    assert trained_bundle.manifest.training.step_seconds["stability"] > 0
