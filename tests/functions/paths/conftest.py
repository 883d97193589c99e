"""The real model for the path tests: the session bundle, a scoring model, a path finder,
and the real customers as validated rows (graph order, None = missing)."""

from __future__ import annotations

import numpy as np
import pytest
from chalicelib.contract.bundle import Manifest
from chalicelib.paths import PathFinder, path_finder
from chalicelib.scoring.loader import Bundle
from chalicelib.scoring.model import ScoringModel

from tests.functions.conftest import TrainedBundle
from tests.functions.scoring.test_agreement import real_rows

Row = tuple[float | None, ...]


@pytest.fixture(scope="session")
def scoring_model(bundle: TrainedBundle) -> ScoringModel:
    """The scorer of POST /v1/segment on the session bundle (real onnxruntime sessions)."""
    manifest = Manifest.from_json(bundle.manifest)
    files = {name: (bundle.path / name).read_bytes() for name in manifest.scoring_files()}
    return ScoringModel(Bundle(manifest.version, manifest, files))


@pytest.fixture(scope="session")
def finder(scoring_model: ScoringModel) -> PathFinder:
    return path_finder(scoring_model)


@pytest.fixture(scope="session")
def customers(scoring_model: ScoringModel) -> list[Row]:
    """The 8,950 real customers, validated by the model's own validator."""
    return [scoring_model.validator.validate(row).values for row in real_rows()]


@pytest.fixture(scope="session")
def filled(finder: PathFinder, customers: list[Row]) -> np.ndarray:
    """The real customers with the imputation defaults filled in (float64 [8950, 17])."""
    return finder.space.fill(customers)
