"""The real model as the judge of a path: where the scorer puts a row.

The solver works in float64 with margins, but only a row that the model itself assigns
to the target as a typical member is an answer. :class:`ScoringCheck` asks the very
:class:`~chalicelib.scoring.model.ScoringModel` that answers ``POST /v1/segment`` (the ONNX
segmenter, then the scorer's own percentile and typicality code), so "lands in the target
as typical" means exactly what the route would say. Tests may pass any :class:`Check`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from chalicelib.paths.results import Landing
from chalicelib.scoring.validator import ValidRecord

if TYPE_CHECKING:
    from chalicelib.scoring.model import ScoringModel

Row = tuple[float | None, ...]


class Check(Protocol):
    """Scores rows (graph order, ``None`` = missing) with the real model."""

    def __call__(self, rows: Sequence[Row]) -> list[Landing]: ...


class ScoringCheck:
    """A :class:`Check` backed by the scoring model (one batch call per list of rows)."""

    def __init__(self, model: ScoringModel) -> None:
        self.model = model

    def __call__(self, rows: Sequence[Row]) -> list[Landing]:
        results = self.model.score([ValidRecord(tuple(row)) for row in rows])
        return [
            Landing(
                segment=result.segment.id,
                percentile=result.typicality.percentile,
                label=result.typicality.label,
            )
            for result in results
        ]
