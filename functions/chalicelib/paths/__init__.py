"""Paths to a segment: the smallest valid change that makes a customer a typical member of
another segment (issue 17).

Numpy and the standard library only (serving's rules); layered above scoring, whose model
is the judge of every answer. Public API:

- :class:`PathFinder` (``find``, ``find_many``), built from a :class:`ModelSpace` (read
  from the bundle's manifest) and a :class:`Check` (:class:`ScoringCheck` over the
  scoring model); :func:`path_finder` builds both from a scoring model;
- :func:`request_problems`: the field-level problems of a target and a ``may_change``;
- the answers: :class:`Path` (with :class:`Change` entries and a :class:`Landing`) or
  :class:`Refusal` (a :class:`RefusalReason`, :class:`Blocker` entries); relations a
  customer's own row breaks come back as :class:`Breach` flags;
- :attr:`PathFinder.default_fixed` (what ``may_change`` leaves out by default: the tenure
  and the credit limit, read from the manifest), and the relations themselves
  (:mod:`chalicelib.paths.relations`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.paths.check import Check, ScoringCheck
from chalicelib.paths.relations import Breach, Relations
from chalicelib.paths.request import RequestProblem, request_problems
from chalicelib.paths.results import (
    Blocker,
    Change,
    Landing,
    Path,
    PathRequest,
    PathResult,
    Refusal,
    RefusalReason,
)
from chalicelib.paths.solver import PathFinder
from chalicelib.paths.space import ModelSpace, NoModelSpace

if TYPE_CHECKING:
    from chalicelib.scoring.model import ScoringModel


def path_finder(model: ScoringModel) -> PathFinder:
    """The path finder of a loaded scoring model (its manifest's space, its own check).
    Raises :class:`NoModelSpace` for a bundle trained before the scaler was written."""
    return PathFinder(ModelSpace.from_manifest(model.manifest), ScoringCheck(model))


__all__ = [
    "Blocker",
    "Breach",
    "Change",
    "Check",
    "Landing",
    "ModelSpace",
    "NoModelSpace",
    "Path",
    "PathFinder",
    "PathRequest",
    "PathResult",
    "Refusal",
    "RefusalReason",
    "Relations",
    "RequestProblem",
    "ScoringCheck",
    "path_finder",
    "request_problems",
]
