"""The bundle contract: the typed ``manifest.json``, its file names and its version check.

Training writes a :class:`Manifest` (``training/bundle_writer.py``), the publisher checks it
before anything is uploaded (``training/registry.py``) and serving reads it back before it
fetches a single model file (``chalicelib/scoring/loader.py``). All three use these
definitions, so a section, a file name or the schema version is written once.

The classes below are the whole description of the JSON: :mod:`.codec` reads and writes
them by reflection, keys in field order. Open to new sections: a top-level section this
code does not know is kept, unread, in :attr:`Manifest.extra` and written back as it came;
inside the report sections (elbow, parity, training...) keys beyond the typed ones are kept
the same way. Adding a section means adding a field here; an older reader still loads a
newer bundle of the same ``schema_version``. A change that an older reader would misread
bumps :data:`SCHEMA_VERSION`, and every reader refuses the other versions with one
:class:`SchemaVersionError`.

Standard library only (the Lambda package carries it; training imports the same file).
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .codec import OMIT_NONE, REST, DecodeError, Record, decode, encode
from .feature import Feature
from .training_report import (
    DataSource,
    Elbow,
    Migration,
    Parity,
    Stability,
    Surrogate,
    TrainingRun,
)

MANIFEST_NAME = "manifest.json"
"""The manifest's file name, in a bundle directory and under a version's S3 prefix."""
POINTER_NAME = "current"
"""The pointer object under the model prefix that names the served version."""
SCHEMA_VERSION = 2
"""The manifest format written and read by this code. 2: ``limit_model.target`` added;
the report files ``metrics.json``, ``elbow.json`` and ``profiles.json`` dropped (their
numbers live in the manifest only)."""

Json = dict[str, Any]


class ManifestError(ValueError):
    """The manifest is not a valid bundle manifest; the message says where and why."""


class SchemaVersionError(ManifestError):
    """The manifest is of a format this code does not read."""


def check_schema_version(body: Any) -> None:
    """Raise :class:`SchemaVersionError` unless ``body`` declares :data:`SCHEMA_VERSION`."""
    found = body.get("schema_version") if isinstance(body, Mapping) else None
    if found != SCHEMA_VERSION or isinstance(found, bool):
        raise SchemaVersionError(
            f"manifest schema_version {found!r} is not supported: this code reads "
            f"schema_version {SCHEMA_VERSION}; train and publish the bundle with the same "
            "release as the service that loads it"
        )


@dataclass(frozen=True, repr=False, eq=False)
class FileEntry(Record):
    """A file of the bundle, as ``files`` lists it: serving refuses it on a sha256 mismatch."""

    sha256: str
    bytes: int


@dataclass(frozen=True, repr=False, eq=False)
class Segmenter(Record):
    """``segmenter.onnx``: raw features in, ``label``/``distances``/``scaled`` out."""

    file: str
    input: str
    outputs: tuple[str, ...]


def quantile_output(quantile: float) -> str:
    """The limit graph's output name for a quantile: ``0.25`` -> ``"p25"``."""
    return f"p{round(quantile * 100):d}"


@dataclass(frozen=True, repr=False, eq=False)
class LimitModel(Record):
    """The credit-limit benchmark: ``target`` predicted from ``features`` at ``quantiles``."""

    target: str
    features: tuple[str, ...]
    quantiles: tuple[float, ...]
    global_file: str

    @property
    def outputs(self) -> tuple[str, ...]:
        """The graph outputs, one per quantile, in ``quantiles`` order."""
        return tuple(quantile_output(q) for q in self.quantiles)


@dataclass(frozen=True, repr=False, eq=False)
class SegmentLimit(Record):
    """Which limit graph a segment uses: its own (``segment``) or the ``global`` one."""

    file: str
    source: str


@dataclass(frozen=True, repr=False, eq=False)
class TopFeature(Record):
    """A feature that sets a segment apart: its standardised difference from everyone."""

    feature: str
    std_diff: float
    direction: str


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class Segment(Record):
    """One segment: its story for people, its profile, and the numbers scoring needs.

    ``std_diff`` is each feature's standardised difference from all customers (model
    space), ``example`` the member closest to the centroid; ``centroid_raw`` (the centroid
    in original units) lets the next training keep segment ids stable. Keys this code does
    not type are kept in ``extra``, written back after the profile.
    """

    id: int
    name: str
    description: str
    action: str
    naming_rule: str
    size: int
    share: float
    std_diff: dict[str, float]
    top_features: tuple[TopFeature, ...]
    example: dict[str, float | None]
    extra: Json = field(default_factory=dict, metadata=REST)
    medians: dict[str, float | None]
    rules: tuple[str, ...]
    centroid_raw: dict[str, float | None]
    centroid: tuple[float, ...]
    distance_percentiles: tuple[float, ...]
    limit_model: SegmentLimit

    #: Numbers only the scorer needs; clients get the readable profile without them.
    INTERNAL: ClassVar[tuple[str, ...]] = ("centroid", "distance_percentiles")


@dataclass(frozen=True, repr=False, eq=False)
class SegmentMap(Record):
    """A 2-D PCA of model space: ``components`` [2][17], ``mean`` [17], points to draw."""

    components: tuple[tuple[float, ...], ...]
    mean: tuple[float, ...]
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False)
class SegmentShare(Record):
    """A segment's share of the training rows."""

    id: int
    share: float


@dataclass(frozen=True, repr=False, eq=False)
class FeatureBins(Record):
    """One feature's training distribution: decile ``edges``, ``shares`` per bin (one more
    than the edges; bin of x = number of edges strictly below x), share of missing values."""

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    missing_share: float


@dataclass(frozen=True, repr=False, eq=False)
class DriftReference(Record):
    """The training distribution that drift reports compare scored files with
    (``training/drift_reference.py`` writes it): bins per feature, in feature order."""

    bins: int
    rows: int
    features: tuple[FeatureBins, ...]
    segment_shares: tuple[SegmentShare, ...]
    extra: Json = field(default_factory=dict, metadata=REST)


@dataclass(frozen=True, repr=False, eq=False, kw_only=True)
class Manifest(Record):
    """``manifest.json``: everything serving needs besides the ONNX graphs.

    ``limit_errors`` (the credit-limit models' held-out errors) is a report section passed
    through as a JSON object, ``libraries`` maps names to versions; ``drift_reference``,
    ``stability`` and ``migration`` (not trained against a published model) may be None;
    ``extra`` holds top-level sections this code does not know.
    """

    schema_version: int = SCHEMA_VERSION
    version: str
    created_at: str
    k: int
    features: tuple[Feature, ...]
    id_field: str
    files: dict[str, FileEntry]
    segmenter: Segmenter
    limit_model: LimitModel
    segments: tuple[Segment, ...]
    map: SegmentMap
    elbow: Elbow
    surrogate: Surrogate
    limit_errors: Json
    parity: Parity
    data: DataSource
    libraries: dict[str, str]
    training: TrainingRun
    drift_reference: DriftReference | None = field(default=None, metadata=OMIT_NONE)
    stability: Stability | None = field(default=None, metadata=OMIT_NONE)
    migration: Migration | None = None
    extra: Json = field(default_factory=dict, metadata=REST)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def scoring_files(self) -> tuple[str, ...]:
        """The files scoring reads (the segmenter and every limit graph in use), in a
        stable order; the report files (e.g. the elbow plot) are not among them."""
        names = [self.segmenter.file, self.limit_model.global_file]
        names += [s.limit_model.file for s in self.segments]
        return tuple(dict.fromkeys(names))

    def to_json(self) -> Json:
        """The manifest as JSON values, keys in field order."""
        body: Json = encode(self)
        return body

    def dumps(self) -> bytes:
        """Strict JSON (NaN refused), UTF-8, stable key order: the bytes of ``manifest.json``."""
        return json.dumps(self.to_json(), indent=2, allow_nan=False, ensure_ascii=False).encode()

    @classmethod
    def loads(cls, raw: bytes | str) -> "Manifest":
        """Parse ``manifest.json``; :class:`ManifestError` says what is wrong."""
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ManifestError(f"{MANIFEST_NAME} is not valid JSON: {error}") from error
        return cls.from_json(body)

    @classmethod
    def from_json(cls, body: Any) -> "Manifest":
        """The typed manifest: the schema version first, then every section's types, then
        the rules across sections (:meth:`check`)."""
        check_schema_version(body)
        try:
            manifest = decode(cls, body)
        except DecodeError as error:
            raise ManifestError(str(error)) from error
        manifest.check()
        return manifest

    def check(self) -> None:
        """The cross-section rules a reader relies on; :class:`ManifestError` if one fails."""
        problems = []
        names = self.feature_names
        if not names:
            problems.append("features is empty")
        if [s.id for s in self.segments] != list(range(self.k)):
            problems.append(f"segments must have ids 0..{self.k - 1} in order")
        if self.elbow.k != self.k:
            problems.append(f"elbow.k is {self.elbow.k}, k is {self.k}")
        if self.limit_model.target not in names:
            problems.append(f"limit_model.target {self.limit_model.target!r} is not a feature")
        unknown = [n for n in self.limit_model.features if n not in names]
        if unknown:
            problems.append(f"limit_model.features names unknown features {unknown}")
        missing = [n for n in self.scoring_files() if n not in self.files]
        if missing:
            problems.append(f"files does not list {missing}, which scoring reads")
        problems += self._drift_problems()
        if MANIFEST_NAME in self.files:
            problems.append(f"files must not list {MANIFEST_NAME} itself")
        if problems:
            raise ManifestError("manifest is not consistent: " + "; ".join(problems))

    def _drift_problems(self) -> list[str]:
        """The drift reference's bins must be well formed and follow the features."""
        drift = self.drift_reference
        if drift is None:
            return []
        problems = [
            f"drift_reference.features[{i}].shares must have one more entry than edges"
            for i, f in enumerate(drift.features)
            if len(f.shares) != len(f.edges) + 1
        ]
        if [f.name for f in drift.features] != list(self.feature_names):
            problems.append("drift_reference.features must follow the features, in order")
        if [s.id for s in drift.segment_shares] != list(range(self.k)):
            problems.append(f"drift_reference.segment_shares must have ids 0..{self.k - 1}")
        return problems
