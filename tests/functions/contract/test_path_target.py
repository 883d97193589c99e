"""The row contract's path target column (TARGET_SEGMENT) and the path columns of a
results table."""

from __future__ import annotations

from chalicelib.contract.row import (
    COLUMN_RULES,
    COLUMNS,
    PATH_COLUMNS,
    PATH_TARGET_FIELD,
    RESULT_COLUMNS,
    asks_paths,
    check_header,
    results_header,
)


def test_the_path_target_column_is_known_to_batch_headers_only() -> None:
    """TARGET_SEGMENT: kept apart from the model's columns (not a customer value), known
    when a batch path asks for it, an unknown column elsewhere (training); a file with it
    gets the path columns after the results columns."""
    header = ["CUST_ID", *COLUMNS, " TARGET_SEGMENT"]
    check = check_header(header, COLUMN_RULES, path_target=True)
    assert check.ok and not check.warnings and check.target_position == len(COLUMNS) + 1
    assert PATH_TARGET_FIELD not in check.positions
    plain = check_header(header, COLUMN_RULES)
    assert plain.target_position is None
    assert [str(w) for w in plain.warnings] == ["TARGET_SEGMENT: unknown column, ignored"]
    wrong = check_header([*COLUMNS, "target_segment"], COLUMN_RULES, path_target=True)
    assert [str(e) for e in wrong.errors] == [
        "target_segment: unknown column; did you mean 'TARGET_SEGMENT'?"
    ]
    assert results_header(paths=False) == RESULT_COLUMNS
    assert results_header(paths=True) == (*RESULT_COLUMNS, *PATH_COLUMNS)
    assert asks_paths(header) and not asks_paths(list(COLUMNS))
