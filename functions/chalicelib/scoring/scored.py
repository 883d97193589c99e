"""One scored customer, typed from the graphs to the wire, and its JSON form.

:class:`Scored` is what the model computes for one validated row: it depends on the values
and the model version only, so identical rows share it and the cache keeps it.
:class:`ScoredCustomer` adds what belongs to one request: the customer id, the cache outcome
and the customer's history. :class:`RowFailure` is a row that could not be scored, with its
problems. Every other form is rendered from these, each in one place:

- the JSON answer: :meth:`ScoredCustomer.to_json` and :func:`batch_json` (here);
- the cache item: :meth:`Scored.to_json` / :meth:`Scored.from_json` (here; the cache stores
  the JSON text);
- the results-CSV line: ``chalicelib.batch.csv_io``;
- the history sighting: ``ScoringService`` (``chalicelib.scoring.service``);
- the drift counts: ``chalicelib.drift.reports``.

The JSON keys and their order are the API's (docs/api.md); a value is rounded once, where
it is computed (``chalicelib.scoring.model``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.contract.row import FieldProblem
from chalicelib.stores.history import Sighting

Json = dict[str, Any]

LIMIT_NOTE = "Look-alike benchmark from customers of this segment, not a credit decision."
SUGGESTIONS = {
    "below": "consider an increase",
    "within": "keep",
    "above": "review",
    "unknown": "none",
}
HIT, MISS, BYPASS = "hit", "miss", "bypass"


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """Who the segment is: shared by every row of the segment (built once per model)."""

    id: int
    name: str
    description: str
    action: str

    def to_json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "action": self.action,
        }


@dataclass(frozen=True, slots=True)
class CreditLimit:
    """Where the customer's limit sits in the look-alike band (P25-P75) of its segment."""

    p25: float
    p50: float
    p75: float
    model: str
    customer_limit: float | None
    position: str  # below | within | above | unknown

    @property
    def suggestion(self) -> str:
        return SUGGESTIONS[self.position]

    def to_json(self) -> Json:
        return {
            "benchmark": {"p25": self.p25, "p50": self.p50, "p75": self.p75},
            "model": self.model,
            "customer_limit": self.customer_limit,
            "position": self.position,
            "suggestion": self.suggestion,
            "note": LIMIT_NOTE,
        }


@dataclass(frozen=True, slots=True)
class Typicality:
    """The percentile of the customer's distance among its segment's members, labelled."""

    percentile: float
    label: str  # typical | unusual | atypical

    def to_json(self) -> Json:
        return {
            "percentile": self.percentile,
            "score": round(100.0 - self.percentile, 2),
            "label": self.label,
        }


@dataclass(frozen=True, slots=True)
class Driver:
    """A feature that pulled the customer to its segment rather than the runner-up."""

    feature: str
    value: float
    segment_median: float | None
    contribution: float

    def to_json(self) -> Json:
        return {
            "feature": self.feature,
            "value": self.value,
            "segment_median": self.segment_median,
            "contribution": self.contribution,
        }


@dataclass(frozen=True, slots=True)
class Explanation:
    """Distance to every centroid (segment id = position), the runner-up and the drivers."""

    distances: tuple[float, ...]
    runner_up: int | None
    margin: float | None
    drivers: tuple[Driver, ...]

    def to_json(self) -> Json:
        return {
            "distances": [{"segment": j, "distance": d} for j, d in enumerate(self.distances)],
            "runner_up": self.runner_up,
            "margin": self.margin,
            "drivers": [d.to_json() for d in self.drivers],
        }


@dataclass(frozen=True, slots=True)
class Scored:
    """What the model computes for one validated row (no customer id, no cache outcome)."""

    model_version: str
    segment: SegmentHeader
    credit_limit: CreditLimit
    typicality: Typicality
    explanation: Explanation
    map_x: float
    map_y: float
    imputed: tuple[str, ...]
    flags: tuple[FieldProblem, ...]

    def to_json(self) -> Json:
        """The scoring part of an answer; also the cache's item (docs/api.md)."""
        return {
            "model_version": self.model_version,
            "segment": self.segment.to_json(),
            "credit_limit": self.credit_limit.to_json(),
            "typicality": self.typicality.to_json(),
            "explanation": self.explanation.to_json(),
            "map_position": {"x": self.map_x, "y": self.map_y},
            "imputed": list(self.imputed),
            "flags": [f.to_json() for f in self.flags],
        }

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Scored:
        """Read back what :meth:`to_json` wrote (a cache item)."""
        limit, band = body["credit_limit"], body["credit_limit"]["benchmark"]
        explanation = body["explanation"]
        credit_limit = CreditLimit(
            band["p25"], band["p50"], band["p75"],
            limit["model"], limit["customer_limit"], limit["position"],
        )  # fmt: skip
        return cls(
            model_version=body["model_version"],
            segment=SegmentHeader(**body["segment"]),
            credit_limit=credit_limit,
            typicality=Typicality(body["typicality"]["percentile"], body["typicality"]["label"]),
            explanation=Explanation(
                distances=tuple(d["distance"] for d in explanation["distances"]),
                runner_up=explanation["runner_up"],
                margin=explanation["margin"],
                drivers=tuple(Driver(**d) for d in explanation["drivers"]),
            ),
            map_x=body["map_position"]["x"],
            map_y=body["map_position"]["y"],
            imputed=tuple(body["imputed"]),
            flags=tuple(FieldProblem(f["field"], f["message"]) for f in body["flags"]),
        )


@dataclass(frozen=True, slots=True)
class ScoredColumns:
    """Scored rows column by column (row j = index j in every list): what a results table
    and the drift counts read, without an object per row. The values are those the rows'
    :class:`Scored` forms hold (``ScoringModel.columns`` computes them a column at a time;
    :meth:`of` reads them from the objects, e.g. cache hits)."""

    model_version: str
    segments: list[SegmentHeader]
    band: list[list[float]]  # [p25, p50, p75] per row
    limit_model: list[str]
    position: list[str]
    percentile: list[float]
    typicality: list[str]
    runner_up: list[int | None]
    margin: list[float | None]
    map_x: list[float]
    map_y: list[float]
    imputed: list[tuple[str, ...]]
    flags: list[tuple[FieldProblem, ...]]

    def __len__(self) -> int:
        return len(self.segments)

    @classmethod
    def of(cls, model_version: str, rows: Sequence[Scored]) -> ScoredColumns:
        """The columns of typed rows (one model version)."""
        limits = [r.credit_limit for r in rows]
        explanations = [r.explanation for r in rows]
        return cls(
            model_version=model_version,
            segments=[r.segment for r in rows],
            band=[[c.p25, c.p50, c.p75] for c in limits],
            limit_model=[c.model for c in limits],
            position=[c.position for c in limits],
            percentile=[r.typicality.percentile for r in rows],
            typicality=[r.typicality.label for r in rows],
            runner_up=[e.runner_up for e in explanations],
            margin=[e.margin for e in explanations],
            map_x=[r.map_x for r in rows],
            map_y=[r.map_y for r in rows],
            imputed=[r.imputed for r in rows],
            flags=[r.flags for r in rows],
        )


def scored_to_text(scored: Scored) -> str:
    """A scored row as the DynamoDB cache stores it: its compact JSON form."""
    return json.dumps(scored.to_json(), separators=(",", ":"))


def scored_from_text(text: str) -> Scored:
    """A cache item read back."""
    return Scored.from_json(json.loads(text))


@dataclass(frozen=True, slots=True)
class History:
    """The ``history`` field of an identified row: ``status`` is ``recorded`` (with the
    previous sighting, None for a first one), ``unavailable`` or ``disabled``."""

    status: str
    previous: Sighting | None = None

    def to_json(self, segment: int) -> Json | None:
        if self.status != RECORDED:
            return {"status": self.status}
        if self.previous is None:
            return None
        before = self.previous
        return {
            "previous": {
                "segment": {"id": before.segment, "name": before.segment_name},
                "model_version": before.model_version,
                "scored_at": before.scored_at,
            },
            "moved": before.segment != segment,
        }


RECORDED, UNAVAILABLE, DISABLED = "recorded", "unavailable", "disabled"


@dataclass(frozen=True, slots=True)
class ScoredCustomer:
    """One scored row of one request."""

    customer_id: str | None
    cache: str  # hit | miss | bypass
    scored: Scored
    history: History | None = None  # None: the row has no customer id

    @property
    def segment_id(self) -> int:
        return self.scored.segment.id

    def to_json(self) -> Json:
        """The answer of ``POST /v1/segment`` (and each scored entry of a batch)."""
        return {
            "customer_id": self.customer_id,
            "cache": self.cache,
            **self.scored.to_json(),
            "history": None if self.history is None else self.history.to_json(self.segment_id),
        }


@dataclass(frozen=True, slots=True)
class RowFailure:
    """A row that could not be scored: its id if it had a usable one, and why."""

    customer_id: str | None
    errors: tuple[FieldProblem, ...]


RowOutcome = ScoredCustomer | RowFailure


@dataclass(frozen=True, slots=True)
class BatchCounts:
    """A batch's summary, counted once from its outcomes."""

    total: int
    scored: int
    failed: int
    cache: Mapping[str, int]

    @classmethod
    def of(cls, outcomes: Sequence[RowOutcome]) -> BatchCounts:
        cache = {HIT: 0, MISS: 0, BYPASS: 0}
        for outcome in outcomes:
            if isinstance(outcome, ScoredCustomer):
                cache[outcome.cache] += 1
        scored = sum(cache.values())
        return cls(len(outcomes), scored, len(outcomes) - scored, cache)

    def to_json(self) -> Json:
        return {
            "total": self.total,
            "scored": self.scored,
            "failed": self.failed,
            "cache": dict(self.cache),
        }


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """Every row of a batch, in order, scored or not, by one model version."""

    model_version: str
    outcomes: tuple[RowOutcome, ...]
    counts: BatchCounts


@dataclass(frozen=True, slots=True)
class ScoredTable:
    """A batch scored column by column: what a results table, an error report and the
    drift counts read.

    Row i of the batch is refused when ``failures`` has it, else it is entry j of
    ``columns`` and of ``values`` (its validated inputs, float64, NaN where missing), j
    counting the scored rows in order. ``batch`` holds the typed outcomes when the service
    made them (JSON answers, the cache and the history need them); a batch file's rows are
    scored as columns only.
    """

    model_version: str
    customer_ids: list[str | None]  # per row: the id answered (a refused id is None)
    failures: dict[int, RowFailure]
    columns: ScoredColumns
    values: Any  # numpy float64 [scored rows, features]
    counts: BatchCounts
    batch: BatchOutcome | None = None


def batch_json(batch: BatchOutcome, rows: Sequence[int] | None = None) -> Json:
    """The answer of ``POST /v1/segment/batch``; ``rows`` are the file row numbers of a CSV
    body's entries (each entry then also carries its ``row``)."""
    entries = []
    for index, outcome in enumerate(batch.outcomes):
        if isinstance(outcome, ScoredCustomer):
            entry: Json = {"index": index, "ok": True, "result": outcome.to_json()}
        else:
            entry = {
                "index": index,
                "ok": False,
                "customer_id": outcome.customer_id,
                "errors": [e.to_json() for e in outcome.errors],
            }
        if rows is not None:
            entry["row"] = rows[index]
        entries.append(entry)
    return {
        "model_version": batch.model_version,
        "results": entries,
        "summary": batch.counts.to_json(),
    }
