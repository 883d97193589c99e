"""The limits of one API request, and the one sentence that answers a batch over them.

A batch request holds at most :data:`MAX_BATCH` customers, whether it comes as JSON
(``{"customers": [...]}``) or as a CSV body; a body is at most :data:`MAX_BODY_BYTES`
(API Gateway's own limit is 10 MB; this keeps a request inside Lambda's time). Files in the
batch bucket have no such limit (``chalicelib.batch``). ``POST /v1/drift/report`` adds at
most :data:`MAX_TALLIES` drift tallies per request: about 1.6 kB each at worst for the data
set's 17 variables, so a full request stays well inside the byte limit
(tests/functions/api/test_drift_report.py measures it). ``GET /v1/model`` publishes all three.
"""

from __future__ import annotations

from chalicelib.contract.row import FieldProblem

MAX_BATCH = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_TALLIES = 500


def batch_size_problem(count: int, field: str, unit: str) -> FieldProblem | None:
    """``None`` when ``count`` rows fit in one batch request, else the problem with ``field``
    (e.g. ``customers`` of a JSON body, ``(file)`` of a CSV one); ``unit`` names the rows."""
    if 1 <= count <= MAX_BATCH:
        return None
    return FieldProblem(field, f"must hold 1 to {MAX_BATCH} {unit}, got {count}")
