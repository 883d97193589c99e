"""Validate, look up the cache, score the misses, store them: for one row or a batch.

Free of HTTP: the API routes and the S3 batch-file handler both call
:meth:`ScoringService.score_batch`, so a row gets the same answer whichever way it comes in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chalicelib import observability
from chalicelib.errors import FieldError, ValidationFailed
from chalicelib.scoring.model import ScoringModel
from chalicelib.scoring.validator import ValidRecord
from chalicelib.stores.cache import CacheLookup, ResultCache, cache_key
from chalicelib.stores.history import CustomerHistory, history_answers

Result = dict[str, Any]
HIT, MISS, BYPASS = "hit", "miss", "bypass"


def customers_of(body: Any, max_batch: int) -> list[Any]:
    """The rows of a batch body ``{"customers": [...]}``, or a 400 saying what is wrong."""
    if not isinstance(body, dict):
        raise ValidationFailed.from_errors(
            [FieldError("(body)", 'must be a JSON object {"customers": [...]}')]
        )
    unknown = [FieldError(str(k), "is not a known field") for k in body if k != "customers"]
    customers = body.get("customers")
    if not isinstance(customers, list):
        problem = "is required" if customers is None else "must be a list of customer objects"
        raise ValidationFailed.from_errors([FieldError("customers", problem), *unknown])
    if not 1 <= len(customers) <= max_batch:
        message = f"must hold 1 to {max_batch} customers, got {len(customers)}"
        raise ValidationFailed.from_errors([FieldError("customers", message), *unknown])
    if unknown:
        raise ValidationFailed.from_errors(unknown)
    return customers


class ScoringService:
    """The scoring use case, given a way to get the current model, an optional cache and an
    optional customer history (chalicelib.stores.history: every identified row is recorded, cache
    hit or not, and answers ``history``)."""

    def __init__(
        self,
        get_model: Callable[[], ScoringModel],
        cache: ResultCache | None,
        history: CustomerHistory | None = None,
    ) -> None:
        self.get_model = get_model
        self.cache = cache
        self.history = history

    def score_one(self, row: Any) -> Result:
        """The single-customer body; raises ValidationFailed / ModelUnavailable."""
        model = self.get_model()
        record = model.validator.validate(row)
        (result,), _ = self._score_valid(model, [record])
        return result

    def score_batch(self, rows: Sequence[Any]) -> Result:
        """The batch body: one entry per row, in order; invalid rows carry their errors.

        Raises ModelUnavailable only (the whole batch cannot be scored without a model).
        """
        model = self.get_model()
        entries: list[Result | None] = [None] * len(rows)
        valid: list[tuple[int, ValidRecord]] = []
        for index, row in enumerate(rows):
            try:
                valid.append((index, model.validator.validate(row)))
            except ValidationFailed as error:
                entries[index] = {
                    "index": index,
                    "ok": False,
                    "customer_id": model.validator.customer_id_of(row),
                    "errors": [e.to_dict() for e in error.errors],
                }
        results, outcomes = self._score_valid(model, [record for _, record in valid])
        for (index, _), result in zip(valid, results, strict=True):
            entries[index] = {"index": index, "ok": True, "result": result}
        failed = len(rows) - len(valid)
        observability.count_rows(len(valid), failed)
        return {
            "model_version": model.version,
            "results": entries,
            "summary": {
                "total": len(rows),
                "scored": len(valid),
                "failed": failed,
                "cache": outcomes,
            },
        }

    def _score_valid(
        self, model: ScoringModel, records: list[ValidRecord]
    ) -> tuple[list[Result], dict[str, int]]:
        keys = [cache_key(model.version, r.values) for r in records]
        lookup = self.cache.get_many(keys) if self.cache and keys else CacheLookup(available=False)
        missing = [i for i, key in enumerate(keys) if key not in lookup.found]
        fresh = model.score([records[i] for i in missing])
        # Identical rows share one answer: scoring is per row, independent of a row's
        # position in the call (ScoringModel computes distances per row in float64).
        computed = dict(zip((keys[i] for i in missing), fresh, strict=True))
        if self.cache is not None and lookup.available and computed:
            self.cache.put_many(computed, model.version)
        miss_status = MISS if lookup.available else BYPASS
        outcomes = {HIT: 0, MISS: 0, BYPASS: 0}
        results: list[Result] = []
        for record, key in zip(records, keys, strict=True):
            cached = lookup.found.get(key)
            status = HIT if cached is not None else miss_status
            outcomes[status] += 1
            body = cached if cached is not None else computed[key]
            results.append({"customer_id": record.customer_id, "cache": status, **body})
        seen = [(result["customer_id"], result) for result in results]
        answers = history_answers(self.history, model.version, seen)
        for result, answer in zip(results, answers, strict=True):
            result["history"] = answer
        observability.count_cache(outcomes)
        return results, outcomes
