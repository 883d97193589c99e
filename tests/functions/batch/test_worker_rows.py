"""A Distributed Map worker reads its items as the CSV path reads lines: the quick reading
of items that carry the header's names gives what the general one gives, item for item."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.batch import runs  # isort: skip

HEADER = ["CUST_ID", "BALANCE", "TENURE"]
VALUE = st.one_of(st.text(max_size=3), st.none(), st.integers(0, 9), st.floats(0, 1))
KEY = st.sampled_from([*HEADER, "\ufeffCUST_ID", "EXTRA", "balance"])


def item(index: int, row: dict[str, Any]) -> dict[str, Any]:
    return {"index": index, "row": row}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(KEY, VALUE, max_size=5), min_size=1, max_size=8), st.booleans())
def test_items_read_quickly_as_the_general_reading_reads_them(
    rows: list[dict[str, Any]], header_first: bool
) -> None:
    if header_first:  # the usual batch: its first item has exactly the header's names
        rows = [{"\ufeffCUST_ID": "a", "BALANCE": "1", "TENURE": "12"}, *rows]
    items = [item(i, row) for i, row in enumerate(rows)]
    got = list(runs._rows(items, HEADER))
    assert got == [(i + 2, runs._cells(row, HEADER)) for i, row in enumerate(rows)]


def test_an_item_with_the_names_in_another_order_is_read_by_name() -> None:
    items = [
        item(0, {"CUST_ID": "a", "BALANCE": "1", "TENURE": "12"}),
        item(1, {"TENURE": "6", "CUST_ID": "b", "BALANCE": "2"}),
        item(2, {"CUST_ID": "c", "BALANCE": 3.5, "TENURE": None}),
    ]
    assert list(runs._rows(items, HEADER)) == [
        (2, ["a", "1", "12"]),
        (3, ["b", "2", "6"]),
        (4, ["c", "3.5", ""]),  # not text: the general reading, a ragged row of its values
    ]
