"""The floor of scoring a customer file: what no batch path can do without, nothing more.

Read the CSV (the standard library's reader, the 17 model inputs converted by ``float``,
empty as NaN), run the segmenter and the credit-limit graph once over all rows, write one
line per row (row, CUST_ID, segment, the three limit quantiles) with the standard
library's writer. No validation, no explanation, no S3, no drift counts: the product's
batch paths are measured against it in the same run (``bench_batch_files.py`` in process,
``bench_batch_floor.py`` as whole processes against ``infra/local_stack.py score-file``).

Usage (a whole process, what bench_batch_floor.py times):
``.venv/bin/python benchmarks/batch_floor.py --bundle DIR FILE.csv OUT.csv``
(imports numpy, onnxruntime and the standard library only).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import onnxruntime as ort


def session(graph: bytes) -> ort.InferenceSession:
    """A session as serving builds one (chalicelib.scoring.model.new_session): one thread,
    sequential, basic optimisations."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    return ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])


class Floor:
    """The bundle's two graphs and the column positions they need."""

    def __init__(self, bundle: Path) -> None:
        manifest: dict[str, Any] = json.loads((bundle / "manifest.json").read_text())
        self.features = [f["name"] for f in manifest["features"]]
        limit = manifest["limit_model"]
        self.limit_columns = [self.features.index(n) for n in limit["features"]]
        self.limit_outputs = list(limit.get("outputs", ["p25", "p50", "p75"]))
        self.input = manifest["segmenter"].get("input", "features")
        self.segmenter = session((bundle / manifest["segmenter"]["file"]).read_bytes())
        self.limit = session((bundle / limit["global_file"]).read_bytes())

    def score(self, lines: Iterable[str], out: IO[str]) -> int:
        """Read, run both graphs once over all rows, write one line per row; the row count."""
        reader = csv.reader(lines)
        header = next(reader)
        positions = [header.index(name) for name in self.features]
        id_at = header.index("CUST_ID")
        rows = list(reader)
        nan = float("nan")
        matrix = np.array(
            [[float(row[p]) if row[p] else nan for p in positions] for row in rows],
            dtype=np.float32,
        )
        (labels,) = self.segmenter.run(["label"], {self.input: matrix})
        limit_inputs = np.ascontiguousarray(matrix[:, self.limit_columns])
        p25, p50, p75 = self.limit.run(self.limit_outputs, {"features": limit_inputs})
        writer = csv.writer(out)
        writer.writerow(["row", "CUST_ID", "segment_id", "p25", "p50", "p75"])
        writer.writerows(
            zip(
                range(2, len(rows) + 2),
                (row[id_at] for row in rows),
                labels.tolist(),
                p25[:, 0].tolist(),
                p50[:, 0].tolist(),
                p75[:, 0].tolist(),
                strict=False,
            )
        )
        return len(rows)

    def score_bytes(self, content: bytes) -> bytes:
        """The floor over a file's bytes, in memory (the in-process comparison)."""
        out = io.StringIO(newline="")
        self.score(io.StringIO(content.decode("utf-8-sig"), newline=""), out)
        return out.getvalue().encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("csv", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    floor = Floor(args.bundle)
    with (
        args.csv.open(newline="", encoding="utf-8-sig") as source,
        args.out.open("w", newline="") as out,
    ):
        rows = floor.score(source, out)
    print(f"{rows} rows", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
