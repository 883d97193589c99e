"""The manifest's report sections: how the model was made, for people and the model card.

The elbow analysis, the bootstrap stability check, the migration from the published model,
the surrogate tree, the parity proof, the training data and the run itself. Scoring reads
none of them; ``GET /v1/model`` shows them and the next training reads the published
``migration``'s ids. Part of the bundle contract (:mod:`.bundle` holds the
:class:`~.bundle.Manifest` that carries them); :mod:`.codec` reads and writes them, keys in
field order, and each keeps the keys it does not type in ``extra``.

Standard library only (the Lambda package carries it; training imports the same file).
"""

from dataclasses import dataclass, field
from typing import Any

from .codec import OMIT_NONE, REST, Record

Json = dict[str, Any]


@dataclass(frozen=True, repr=False, eq=False)
class Elbow(Record):
    """The elbow analysis: WCSS per k, the knee, the k used and why, plus other metrics."""

    k_values: tuple[int, ...]
    wcss: tuple[float, ...]
    knee: int | None
    k: int
    k_source: str
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False)
class Surrogate(Record):
    """The depth-limited tree that restates the segments as rules, and its agreement."""

    max_depth: int
    agreement: float
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False)
class Parity(Record):
    """The proof that the graphs compute what scikit-learn computed (bounds, differences)."""

    passed: bool
    rows: int
    label_agreement: float
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False)
class Sample(Record):
    """The rows the models were fitted on: a seeded uniform sample of the data's rows.

    ``rows`` were drawn (``method``, ``seed``) of the ``capacity`` asked for (None: every
    row); ``segment_sizes`` are the sample's own rows per segment id. ``from_sample`` and
    ``from_every_row`` name the manifest's figures (paths such as ``segments[].size``)
    computed on the sample and counted over every row of the data.
    """

    rows: int
    capacity: int | None
    seed: int
    method: str
    segment_sizes: tuple[int, ...]
    from_sample: tuple[str, ...]
    from_every_row: tuple[str, ...]


@dataclass(frozen=True, repr=False, eq=False)
class DataSource(Record):
    """The training data: file name, sha256 and row count (every row of the file), and
    the sample the models were fitted on (None in bundles trained before samples)."""

    file: str | None
    sha256: str
    rows: int
    sample: Sample | None = field(default=None, metadata=OMIT_NONE)


@dataclass(frozen=True, repr=False, eq=False)
class TrainingRun(Record):
    """How the bundle was trained: seed, algorithm, total and per-step seconds."""

    seed: int
    algorithm: str
    seconds: float
    step_seconds: dict[str, float]
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False)
class SegmentStability(Record):
    """One final segment's mean best Jaccard over the resamples, and whether it holds."""

    id: int
    jaccard: float
    stable: bool


@dataclass(frozen=True, repr=False, eq=False)
class Stability(Record):
    """The bootstrap stability check (``training/stability.py``): ARI per k (JSON keys are
    the k as text), the stable k, the rule's k and the k kept, and per segment Jaccard."""

    method: str
    resamples: int
    sample_size: int
    n_init: int
    seed: int
    threshold: float
    jaccard_threshold: float
    ari_mean: dict[str, float]
    ari_min: dict[str, float]
    stable_k: tuple[int, ...]
    rule: str
    rule_k: int
    k: int
    reason: str
    segments: tuple[SegmentStability, ...]
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False)
class SegmentName(Record):
    """A segment id and its name (in the model the migration comes from, or goes to)."""

    id: int
    name: str


@dataclass(frozen=True, repr=False, eq=False)
class Migration(Record):
    """Training rows by published segment (rows) and new segment (columns) of a retrain
    (``training/migration.py``); ``changed`` rows left the diagonal."""

    from_version: str
    rows: int
    changed: int
    changed_share: float
    from_segments: tuple[SegmentName, ...]
    to_segments: tuple[SegmentName, ...]
    matrix: tuple[tuple[int, ...], ...]
    extra: Json = field(default_factory=dict, metadata=REST)
