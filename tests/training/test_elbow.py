"""Choosing k: knee detection, the decision rules and the full analysis on known data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from training import elbow


def _blobs(n: int = 1200, centers: int = 4) -> np.ndarray:
    X, _ = make_blobs(
        n_samples=n,
        n_features=17,
        centers=centers,
        cluster_std=1.0,
        center_box=(-10, 10),
        random_state=3,
    )
    return X


def test_find_knee_on_a_hand_made_curve() -> None:
    assert elbow.find_knee([1, 2, 3, 4, 5, 6], [100.0, 40.0, 20.0, 17.0, 15.0, 14.0]) == 3


def test_find_knee_returns_none_on_a_straight_line_or_too_few_points() -> None:
    assert elbow.find_knee([1, 2, 3, 4, 5], [50.0, 40.0, 30.0, 20.0, 10.0]) is None
    assert elbow.find_knee([1, 2], [10.0, 5.0]) is None


@pytest.mark.parametrize(
    ("knee", "best_sil", "override", "expected_k", "source", "note"),
    [
        (4, 4, None, 4, "knee", None),
        (4, 3, None, 4, "knee", "knee (k=4) and best silhouette (k=3) disagree; used the knee"),
        (None, 3, None, 3, "silhouette", "no knee found in the WCSS curve"),
        (4, 3, 6, 6, "override", "k=6 set by override"),
    ],
)
def test_decide_k(
    knee: int | None,
    best_sil: int,
    override: int | None,
    expected_k: int,
    source: str,
    note: str | None,
) -> None:
    k, got_source, notes = elbow.decide_k(list(range(1, 11)), knee, best_sil, override)
    assert (k, got_source) == (expected_k, source)
    if note is None:
        assert notes == []
    else:
        assert note in notes


def test_decide_k_without_knee_or_silhouette_asks_for_k() -> None:
    with pytest.raises(ValueError, match="pass k explicitly"):
        elbow.decide_k([1], None, None, None)


def test_analyse_finds_the_four_true_clusters(tmp_path: Path) -> None:
    result = elbow.analyse(_blobs(), (1, 8), seed=0, progress=False)
    assert result.knee == 4
    assert result.best_silhouette_k == 4
    assert (result.k, result.k_source) == (4, "knee")
    assert result.notes == []
    assert result.k_values == list(range(1, 9))
    assert all(a > b for a, b in zip(result.wcss, result.wcss[1:], strict=False))
    assert sorted(result.silhouette) == list(range(2, 9))
    assert max(result.calinski_harabasz, key=lambda k: result.calinski_harabasz[k]) == 4
    assert min(result.davies_bouldin, key=lambda k: result.davies_bouldin[k]) == 4
    doc = result.to_json()
    assert doc["silhouette"].keys() == {str(k) for k in range(2, 9)}
    assert doc["k"] == 4 and doc["knee"] == 4 and len(doc["wcss"]) == 8
    png = tmp_path / "elbow.png"
    elbow.plot(result, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyse_samples_silhouette_on_large_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elbow, "SILHOUETTE_MAX_ROWS", 300)
    result = elbow.analyse(_blobs(), (2, 5), seed=0, k_override=3, progress=False)
    assert result.silhouette_sample_size == 300
    assert "silhouette computed on a fixed-seed sample of 300 of 1200 rows" in result.notes
    assert (result.k, result.k_source) == (3, "override")


def test_analyse_scalable_uses_minibatch_and_still_finds_the_clusters() -> None:
    result = elbow.analyse(_blobs(), (1, 7), seed=0, scalable=True, progress=False)
    assert result.algorithm == "MiniBatchKMeans"
    assert result.k == 4


@pytest.mark.parametrize("k_range", [(0, 5), (5, 4)])
def test_analyse_rejects_a_bad_k_range(k_range: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="k_range"):
        elbow.analyse(_blobs(100), k_range, progress=False)
