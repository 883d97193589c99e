"""What reading rows through the row contract costs, against pandas' C parser, on the real data.

Run:  .venv/bin/python benchmarks/bench_row_contract.py [--repeats 7]

Cases, interleaved, median of ``--repeats`` (data/CC_GENERAL.csv, 8,950 rows x 18 columns):

- baseline: what training did before the contract: ``pandas.read_csv`` (C parser, every
  cell as text) then ``pandas.to_numeric`` per feature column;
- contract, bare: ``read_csv`` + ``parse_cell`` + ``check_value`` over every feature cell
  (the same per-cell code the API's CSV route and the S3 batch function run);
- training validation in full (``training.validation.validate_file``: the contract plus
  the report, the known-quirk checks and the cleaned frame).

Results go to docs/benchmarks.md ("Row contract"); this script only prints them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "CC_GENERAL.csv"
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from chalicelib.contract.row import COLUMN_RULES, check_header, check_value, parse_cell, read_csv  # noqa: E402

from training.validation import validate_file  # noqa: E402


def pandas_baseline() -> int:
    frame = pd.read_csv(DATA, dtype=str, keep_default_na=False)
    for rule in COLUMN_RULES:
        pd.to_numeric(frame[rule.name], errors="coerce")
    return len(frame)


def contract_bare() -> int:
    rows = 0
    with DATA.open(encoding="utf-8-sig", newline="") as handle:
        header, records = read_csv(handle)
        positions = check_header(header, COLUMN_RULES).positions
        columns = [(rule, positions[rule.name]) for rule in COLUMN_RULES]
        for record in records:
            cells = record.cells
            for rule, position in columns:
                check_value(rule, parse_cell(cells[position]))
            rows += 1
    return rows


def training_validation() -> int:
    return validate_file(DATA).report.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cases: dict[str, Callable[[], int]] = {
        "pandas read_csv + to_numeric (baseline)": pandas_baseline,
        "contract: read_csv + parse_cell + check_value": contract_bare,
        "training validate_file (contract + report + frame)": training_validation,
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for name, case in cases.items():  # warm-up: imports, file cache
        assert case() == 8950, name
    for _ in range(args.repeats):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - started)
    load = os.getloadavg()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    print(f"{machine}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    baseline = statistics.median(times[next(iter(cases))])
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"  {name:<52} {median * 1000:8.1f} ms  {median / baseline:5.1f}x baseline")


if __name__ == "__main__":
    main()
