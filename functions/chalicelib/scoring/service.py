"""Validate, look up the cache, score the misses, store them, record the sightings.

Free of HTTP: the API routes and the batch-file paths all come here, so a row gets the same
answer whichever way it comes in. What comes out is typed (``chalicelib.scoring.scored``);
each caller renders it (JSON, a results-CSV line, drift counts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chalicelib import observability
from chalicelib.errors import ValidationFailed
from chalicelib.scoring.scored import (
    BYPASS,
    DISABLED,
    HIT,
    MISS,
    RECORDED,
    UNAVAILABLE,
    BatchCounts,
    BatchOutcome,
    History,
    RowFailure,
    RowOutcome,
    Scored,
    ScoredColumns,
    ScoredCustomer,
    ScoredTable,
    SegmentHeader,
)
from chalicelib.scoring.validator import ValidRecord
from chalicelib.stores.cache import CacheLookup, ResultCache, cache_key
from chalicelib.stores.history import CustomerHistory, Recorded, Sighting, iso, record_sightings

if TYPE_CHECKING:  # numpy and onnxruntime load with the model, not with the service
    from chalicelib.scoring.cells import CheckedColumns
    from chalicelib.scoring.model import ScoringModel

Checked = ValidRecord | RowFailure
"""A row after validation: ready to score, or refused with its problems."""


class ScoringService:
    """The scoring use case, given a way to get the current model, an optional cache and an
    optional customer history (every identified row is recorded, cache hit or not)."""

    def __init__(
        self,
        get_model: Callable[[], ScoringModel],
        cache: ResultCache[Scored] | None,
        history: CustomerHistory | None = None,
    ) -> None:
        self.get_model = get_model
        self.cache = cache
        self.history = history

    def score_one(self, row: Any) -> ScoredCustomer:
        """One customer; raises ValidationFailed / ModelUnavailable."""
        model = self.get_model()
        record = model.validator.validate(row)
        (result,) = self._score_valid(model, [record])
        return result

    def score_batch(self, rows: Sequence[Any]) -> BatchOutcome:
        """Every row, in order; invalid rows carry their errors. Raises ModelUnavailable only
        (the whole batch cannot be scored without a model)."""
        model = self.get_model()
        return self.score_checked(model, [check(model, row) for row in rows])

    def score_checked(self, model: ScoringModel, rows: Sequence[Checked]) -> BatchOutcome:
        """Rows already validated against ``model`` (a file is read with one model, even
        across a promotion): the valid ones are scored, the refused ones kept in place."""
        valid = [row for row in rows if isinstance(row, ValidRecord)]
        scored = iter(self._score_valid(model, valid))
        outcomes: tuple[RowOutcome, ...] = tuple(
            next(scored) if isinstance(row, ValidRecord) else row for row in rows
        )
        counts = BatchCounts.of(outcomes)
        observability.count_rows(counts.scored, counts.failed)
        return BatchOutcome(model.version, outcomes, counts)

    def score_columns(
        self, model: ScoringModel, rows: CheckedColumns, typed: bool = False
    ) -> ScoredTable:
        """Rows validated by column against ``model`` (a file chunk, a CSV body).

        Without a cache and a history (the batch functions), and unless ``typed`` outcomes
        are wanted (a JSON answer), the valid rows are scored as columns, with no object per
        row. Otherwise they go through :meth:`score_checked`, so that the cache and the
        history see every row as they see a JSON batch's.
        """
        if typed or self.cache is not None or self.history is not None:
            batch = self.score_checked(model, rows.records())
            scored = [o.scored for o in batch.outcomes if isinstance(o, ScoredCustomer)]
            columns = ScoredColumns.of(model.version, scored)
            return self._table(model, rows, columns, batch.counts, batch)
        valid = rows.valid
        imputed = [rows.imputed.get(i, ()) for i in valid]
        flags = [rows.flags.get(i, ()) for i in valid]
        columns = model.columns(model.compute(rows.values[valid]), imputed, flags)
        counts = BatchCounts(
            rows.count, len(valid), rows.count - len(valid), {HIT: 0, MISS: 0, BYPASS: len(valid)}
        )
        observability.count_cache(counts.cache)
        observability.count_rows(counts.scored, counts.failed)
        return self._table(model, rows, columns, counts)

    @staticmethod
    def _table(
        model: ScoringModel,
        rows: CheckedColumns,
        columns: ScoredColumns,
        counts: BatchCounts,
        batch: BatchOutcome | None = None,
    ) -> ScoredTable:
        values = rows.values[rows.valid]
        return ScoredTable(
            model.version, rows.customer_ids, rows.failures, columns, values, counts, batch
        )

    def _score_valid(
        self, model: ScoringModel, records: Sequence[ValidRecord]
    ) -> list[ScoredCustomer]:
        keys = [cache_key(model.version, r.values) for r in records]
        lookup: CacheLookup[Scored] = (
            self.cache.get_many(keys) if self.cache and keys else CacheLookup(available=False)
        )
        missing = [i for i, key in enumerate(keys) if key not in lookup.found]
        fresh = model.score([records[i] for i in missing])
        # Identical rows share one answer: scoring is per row, independent of a row's
        # position in the call (ScoringModel computes distances per row in float64).
        computed = dict(zip((keys[i] for i in missing), fresh, strict=True))
        if self.cache is not None and lookup.available and computed:
            self.cache.put_many(computed, model.version)
        miss = MISS if lookup.available else BYPASS
        outcomes = {HIT: 0, MISS: 0, BYPASS: 0}
        rows: list[tuple[str | None, str, Scored]] = []
        for record, key in zip(records, keys, strict=True):
            cached = lookup.found.get(key)
            status = HIT if cached is not None else miss
            outcomes[status] += 1
            rows.append((record.customer_id, status, cached or computed[key]))
        histories = self._history(model.version, rows)
        observability.count_cache(outcomes)
        return [
            ScoredCustomer(customer, status, scored, history)
            for (customer, status, scored), history in zip(rows, histories, strict=True)
        ]

    def _history(
        self, model_version: str, rows: Sequence[tuple[str | None, str, Scored]]
    ) -> list[History | None]:
        seen = [(customer, scored.segment) for customer, _, scored in rows]
        return histories(self.history, model_version, seen)


def histories(
    history: CustomerHistory | None,
    model_version: str,
    seen: Sequence[tuple[str | None, SegmentHeader]],
) -> list[History | None]:
    """The ``history`` of each scored row (customer id, segment), recording the identified
    ones. Never raises: a failing table makes every identified row's history
    ``unavailable``; a row without an id has none."""
    if history is None:
        return [None if customer is None else History(DISABLED) for customer, _ in seen]
    scored_at = iso(history.clock())
    sightings = [
        Sighting(customer, scored_at, model_version, segment.id, segment.name)
        for customer, segment in seen
        if customer
    ]
    recorded = iter(record_sightings(history, sightings))  # never raises
    return [_history_of(next(recorded)) if customer else None for customer, _ in seen]


def _history_of(recorded: Recorded) -> History:
    """A sighting the table did not take (or whose previous one it could not read) is
    never answered as recorded (chalicelib.stores.history)."""
    if not recorded.answerable:
        return History(UNAVAILABLE)
    return History(RECORDED, recorded.previous)


def check(model: ScoringModel, row: Any) -> Checked:
    """``row`` validated against ``model``, or the row's refusal (never raises)."""
    try:
        return model.validator.validate(row)
    except ValidationFailed as error:
        return RowFailure(model.validator.customer_id_of(row), tuple(error.errors))
