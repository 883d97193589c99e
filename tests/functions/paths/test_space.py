"""The model space rebuilt from the manifest is the graph's: same model-space point for
every real customer, an exact inverse, the scorer's typical radius."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
from chalicelib.contract.bundle import Manifest
from chalicelib.paths import ModelSpace, NoModelSpace, PathFinder
from chalicelib.scoring.model import ScoringModel, _percentile, _typicality

from tests.functions.conftest import TrainedBundle
from tests.functions.paths.conftest import Row


def test_model_space_is_the_graphs(
    finder: PathFinder, bundle: TrainedBundle, customers: list[Row]
) -> None:
    """Missing values imputed, log1p, scaled: the manifest's numbers give the graph's own
    model-space point for every real customer (float32 graph: 1e-4)."""
    session = ort.InferenceSession(
        str(bundle.path / "segmenter.onnx"), providers=["CPUExecutionProvider"]
    )
    raw = np.array([[np.nan if v is None else v for v in row] for row in customers])
    (scaled,) = session.run(["scaled"], {"features": raw.astype(np.float32)})
    np.testing.assert_allclose(
        finder.space.to_model(finder.space.fill(customers)), scaled, atol=1e-4
    )


def test_to_data_inverts_to_model(finder: PathFinder, filled: np.ndarray) -> None:
    space = finder.space
    np.testing.assert_allclose(space.to_data(space.to_model(filled)), filled, rtol=1e-9, atol=1e-9)


def test_the_radius_is_where_the_scorer_stops_saying_typical(
    finder: PathFinder, scoring_model: ScoringModel
) -> None:
    for segment, radius in zip(scoring_model.segments, finder.space.radius, strict=True):
        assert _typicality(_percentile(radius, segment.percentiles)).label == "typical"
        assert _typicality(_percentile(radius + 1e-3, segment.percentiles)).label != "typical"


def test_a_bundle_without_the_scaler_has_no_paths(scoring_model: ScoringModel) -> None:
    body = scoring_model.manifest.to_json()
    for feature in body["features"]:
        feature.pop("scaler_mean")
    with pytest.raises(NoModelSpace, match="lacks the scaler's numbers"):
        ModelSpace.from_manifest(Manifest.from_json(body))


def test_a_model_with_other_transforms_has_no_paths(finder: PathFinder) -> None:
    """The solver's forms assume log1p amounts (identity) and plain frequencies (orders)."""
    flipped = finder.space.log1p.copy()
    flipped[finder.space.index("PURCHASES")] = False
    with pytest.raises(NoModelSpace, match="transforms do not match"):
        PathFinder(replace(finder.space, log1p=flipped), finder.check)
