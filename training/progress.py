"""Progress of a read through the data, on stderr: bytes (of the stored file) and rows,
each with its rate, so a run over tens of millions of customers can be followed."""

from __future__ import annotations

import sys
import time
from types import TracebackType

from tqdm import tqdm


class ReadProgress:
    """A progress bar for one read of the data, fed ``(bytes read so far, rows)``.

    The bar counts stored bytes (its total is the file size, when known) and its postfix
    the rows read and rows per second.
    """

    def __init__(self, label: str, total_bytes: int | None, *, enabled: bool = True) -> None:
        self.rows = 0
        self._started = time.perf_counter()
        self._bar = tqdm(
            total=total_bytes,
            desc=label,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not enabled,
            file=sys.stderr,
            mininterval=1.0,
            leave=True,
        )

    def __call__(self, bytes_read: int, rows: int) -> None:
        self.rows += rows
        if bytes_read > self._bar.n:
            self._bar.update(bytes_read - self._bar.n)
        seconds = max(time.perf_counter() - self._started, 1e-9)
        self._bar.set_postfix_str(
            f"{self.rows:,} rows, {self.rows / seconds:,.0f} rows/s", refresh=False
        )

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> ReadProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
