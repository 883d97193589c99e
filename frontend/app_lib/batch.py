"""Reading an uploaded CSV, checking its columns and turning API answers into a table.

Cells are read as text and sent as they are unless they are clean numbers: a cell like
``abc`` goes to the API unchanged so it comes back as a field error on that row, rather
than being silently turned into a number or dropped. Empty cells are sent as null.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app_lib.api import ApiError

MISSING_TEXT = {"", "na", "n/a", "nan", "null", "none"}

RESULT_COLUMNS = [
    "row",
    "customer_id",
    "status",
    "segment_id",
    "segment_name",
    "action",
    "limit_p25",
    "limit_p50",
    "limit_p75",
    "limit_position",
    "limit_suggestion",
    "typicality",
    "typicality_percentile",
    "cache",
    "imputed",
    "flags",
    "errors",
]


class UploadError(ValueError):
    """The file cannot be read as a CSV table."""


@dataclass(frozen=True)
class ColumnCheck:
    """What an uploaded file's header says compared with the model's features."""

    missing_required: list[str] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing_required


def read_csv(data: bytes) -> pd.DataFrame:
    """Every cell as text, nothing converted, nothing dropped."""
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            encoding="utf-8-sig",  # spreadsheet exports often start with a byte-order mark
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UploadError(f"Cannot read the file as CSV: {exc}") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def check_columns(
    columns: Sequence[str], features: Sequence[dict[str, Any]], id_field: str
) -> ColumnCheck:
    """Required features that are absent block scoring; optional ones are imputed."""
    present = set(columns)
    names = [feature["name"] for feature in features]
    return ColumnCheck(
        missing_required=[
            f["name"] for f in features if not f.get("optional") and f["name"] not in present
        ],
        missing_optional=[
            f["name"] for f in features if f.get("optional") and f["name"] not in present
        ],
        ignored=[c for c in columns if c not in names and c != id_field],
    )


def cell_value(text: str) -> float | str | None:
    """A clean finite number as a number, empty as None, anything else as the raw text."""
    stripped = text.strip()
    if stripped.lower() in MISSING_TEXT:
        return None
    try:
        number = float(stripped)
    except ValueError:
        return stripped
    return number if math.isfinite(number) else stripped


def to_customers(
    frame: pd.DataFrame, feature_names: Sequence[str], id_field: str
) -> list[dict[str, Any]]:
    """One request object per row: the known features present in the file, plus the id."""
    used = [name for name in feature_names if name in frame.columns]
    has_id = id_field in frame.columns
    customers: list[dict[str, Any]] = []
    for record in frame.to_dict(orient="records"):
        customer: dict[str, Any] = {name: cell_value(str(record[name])) for name in used}
        if has_id and str(record[id_field]).strip():
            customer[id_field] = str(record[id_field]).strip()
        customers.append(customer)
    return customers


def chunks(items: Sequence[Any], size: int) -> Iterator[tuple[int, Sequence[Any]]]:
    """``(offset, slice)`` pairs of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield start, items[start : start + size]


def _joined(items: list[dict[str, Any]]) -> str:
    return "; ".join(f"{item.get('field', '')}: {item.get('message', '')}" for item in items)


def result_row(row: int, customer: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """One line of the results table from one batch result (or a local failure)."""
    line: dict[str, Any] = dict.fromkeys(RESULT_COLUMNS)
    line["row"] = row
    line["customer_id"] = outcome.get("customer_id") or customer.get("CUST_ID")
    if not outcome.get("ok"):
        line["status"] = "error"
        line["errors"] = _joined(outcome.get("errors") or [])
        return line
    result = outcome["result"]
    segment, limit = result["segment"], result["credit_limit"]
    line.update(
        status="scored",
        customer_id=result.get("customer_id") or line["customer_id"],
        segment_id=segment["id"],
        segment_name=segment["name"],
        action=segment.get("action"),
        limit_p25=limit["benchmark"]["p25"],
        limit_p50=limit["benchmark"]["p50"],
        limit_p75=limit["benchmark"]["p75"],
        limit_position=limit.get("position"),
        limit_suggestion=limit.get("suggestion"),
        typicality=result["typicality"].get("label"),
        typicality_percentile=result["typicality"].get("percentile"),
        cache=result.get("cache"),
        imputed=", ".join(result.get("imputed") or []),
        flags=_joined(result.get("flags") or []),
        errors="",
    )
    return line


def failed_outcome(message: str) -> dict[str, Any]:
    """What a row gets when its chunk could not be scored at all (kept, not dropped)."""
    return {"ok": False, "errors": [{"field": "", "message": message}]}


PAYLOAD_TOO_LARGE = 413


def _outcomes(
    batch: list[dict[str, Any]], score_chunk: Callable[[list[dict[str, Any]]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], str | None]:
    """Results for ``batch``; a body over the API's byte limit is split in halves and retried."""
    try:
        answer = score_chunk(batch)
    except ApiError as error:
        if error.status != PAYLOAD_TOO_LARGE or len(batch) == 1:
            raise
        middle = len(batch) // 2
        first, version = _outcomes(batch[:middle], score_chunk)
        second, version = _outcomes(batch[middle:], score_chunk)
        return first + second, version
    outcomes = answer.get("results") or []
    if len(outcomes) != len(batch):
        raise ValueError(f"the API returned {len(outcomes)} results for {len(batch)} rows")
    return outcomes, answer.get("model_version")


def score_all(
    customers: Sequence[dict[str, Any]],
    chunk_size: int,
    score_chunk: Callable[[list[dict[str, Any]]], dict[str, Any]],
    on_progress: Callable[[int], None],
) -> tuple[pd.DataFrame, str | None, str | None]:
    """Score every row in chunks; returns (results table, model version, first error).

    A chunk the API refuses (or cannot answer) does not stop the others; its rows are
    kept in the table with the error. A chunk over the API's byte limit is split.
    ``score_chunk`` raises ``ApiError`` on failure; its message becomes the rows' error.
    """
    lines: list[dict[str, Any]] = []
    version: str | None = None
    first_error: str | None = None
    done = 0
    for offset, chunk in chunks(customers, chunk_size):
        batch = list(chunk)
        try:
            outcomes, answered_version = _outcomes(batch, score_chunk)
            version = answered_version or version
        except (ApiError, ValueError) as exc:
            first_error = first_error or str(exc)
            outcomes = [failed_outcome(f"not scored: {exc}")] * len(batch)
        for position, (customer, outcome) in enumerate(zip(batch, outcomes, strict=True)):
            lines.append(result_row(offset + position + 1, customer, outcome))
        done += len(batch)
        on_progress(done)
    return pd.DataFrame(lines, columns=RESULT_COLUMNS), version, first_error


def segment_counts(results: pd.DataFrame) -> pd.DataFrame:
    """Rows per segment among the scored rows."""
    scored = results[results["status"] == "scored"]
    counts = scored.groupby("segment_name").size().reset_index(name="rows")
    return counts.sort_values("rows", ascending=False, ignore_index=True)


def to_csv_bytes(results: pd.DataFrame) -> bytes:
    """The results table as UTF-8 CSV, for download."""
    return results.to_csv(index=False).encode("utf-8")
