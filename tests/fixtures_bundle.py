"""Session fixture: one real bundle trained on the real data, shared by every test part.

Training, serving, the frontend and infra tests all need a real bundle; training it once
per session keeps the suite fast. The fixture returns the :class:`BundleSummary`
(``out_dir``, ``labels`` = the canonical segment id training gave each CSV row, in
order, ``manifest``...). Treat the directory as read-only: copy it before changing it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from training.pipeline import BundleSummary

REAL_DATA = Path(__file__).resolve().parents[1] / "data" / "CC_GENERAL.csv"


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory) -> BundleSummary:
    """Train on data/CC_GENERAL.csv (default settings) into a session temp directory."""
    # Imported here: every pytest run loads this plugin, few need the training stack.
    from threadpoolctl import threadpool_limits

    from training.data import file_sha256
    from training.pipeline import build_bundle
    from training.validation import validate_file

    result = validate_file(REAL_DATA)
    assert result.frame is not None, result.report
    # One OpenMP thread: on a shared CI box, spinning OpenMP workers make KMeans 10x slower.
    with threadpool_limits(limits=1, user_api="openmp"):
        return build_bundle(
            result.frame,
            tmp_path_factory.mktemp("trained_bundle"),
            data_sha256=file_sha256(REAL_DATA),
            data_file=REAL_DATA.name,
            progress=False,
        )
