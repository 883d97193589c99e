"""The bundle contract: the typed ``manifest.json``, its file names and its version check.

Training writes a :class:`Manifest` (``training/bundle_writer.py``), the publisher checks it
before anything is uploaded (``training/registry.py``) and serving reads it back before it
fetches a single model file (``chalicelib/scoring/loader.py``). All three use these
definitions, so a section, a file name or the schema version is written once.

Open to new sections: a top-level section this code does not know is kept, unread, in
:attr:`Manifest.extra` and written back as it came; inside the report sections (elbow,
parity, training...) keys beyond the typed ones are kept the same way. Adding a section
means adding a field here and its line in ``to_json``/``from_json``; an older reader
still loads a newer bundle of the same ``schema_version``. A change that an older reader
would misread bumps :data:`SCHEMA_VERSION`, and every reader refuses the other versions
with one :class:`SchemaVersionError`.

Standard library only (the Lambda package carries it; training imports the same file).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

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


class _Object:
    """A JSON object being read: typed getters whose errors name the path (``segments[2].id``)."""

    def __init__(self, body: Any, where: str) -> None:
        if not isinstance(body, Mapping):
            raise ManifestError(f"{where} must be a JSON object")
        self.body, self.where = body, where

    def _get(self, key: str) -> Any:
        if key not in self.body:
            raise ManifestError(f"{self._at(key)} is missing")
        return self.body[key]

    def _at(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _fail(self, key: str, what: str) -> ManifestError:
        return ManifestError(f"{self._at(key)} must be {what}, got {self.body.get(key)!r:.60}")

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.body.get(key) is None else self.text(key)

    def whole(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "a whole number")
        return value

    def opt_whole(self, key: str) -> int | None:
        return None if self.body.get(key) is None else self.whole(key)

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._fail(key, "a number")
        return float(value)

    def opt_number(self, key: str) -> float | None:
        return None if self.body.get(key) is None else self.number(key)

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false")
        return value

    def obj(self, key: str) -> _Object:
        return _Object(self._get(key), self._at(key))

    def mapping(self, key: str) -> Json:
        return dict(self.obj(key).body)

    def array(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def numbers(self, key: str) -> tuple[float, ...]:
        values = self.array(key)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise self._fail(key, "a list of numbers")
        return tuple(float(v) for v in values)

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        if not all(isinstance(v, str) for v in values):
            raise self._fail(key, "a list of strings")
        return tuple(values)

    def objects(self, key: str) -> list[_Object]:
        return [_Object(v, f"{self._at(key)}[{i}]") for i, v in enumerate(self.array(key))]

    def rest(self, known: Iterable[str]) -> Json:
        """The keys not in ``known``: kept as they came and written back unchanged."""
        skip = set(known)
        return {k: v for k, v in self.body.items() if k not in skip}


def _with_extra(typed: Json, extra: Mapping[str, Any]) -> Json:
    return {**typed, **{k: v for k, v in extra.items() if k not in typed}}


@dataclass(frozen=True)
class FileEntry:
    """A file of the bundle, as ``files`` lists it: serving refuses it on a sha256 mismatch."""

    sha256: str
    bytes: int

    def to_json(self) -> Json:
        return {"sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def read(cls, body: _Object) -> FileEntry:
        return cls(sha256=body.text("sha256"), bytes=body.whole("bytes"))


@dataclass(frozen=True)
class Feature:
    """One model input: the row contract's rules plus what training saw (range, median)."""

    name: str
    label: str
    description: str
    kind: str
    integer: bool
    valid_min: float | None
    valid_max: float | None
    train_min: float | None
    train_max: float | None
    optional: bool
    default: float | None
    log1p: bool
    extra: Json = field(default_factory=dict)

    _KEYS = (
        "name",
        "label",
        "description",
        "kind",
        "integer",
        "valid_min",
        "valid_max",
        "train_min",
        "train_max",
        "optional",
        "default",
        "log1p",
    )

    def to_json(self) -> Json:
        return _with_extra({key: getattr(self, key) for key in self._KEYS}, self.extra)

    @classmethod
    def read(cls, body: _Object) -> Feature:
        return cls(
            name=body.text("name"),
            label=body.text("label"),
            description=body.text("description"),
            kind=body.text("kind"),
            integer=body.flag("integer"),
            valid_min=body.opt_number("valid_min"),
            valid_max=body.opt_number("valid_max"),
            train_min=body.opt_number("train_min"),
            train_max=body.opt_number("train_max"),
            optional=body.flag("optional"),
            default=body.opt_number("default"),
            log1p=body.flag("log1p"),
            extra=body.rest(cls._KEYS),
        )


@dataclass(frozen=True)
class Segmenter:
    """``segmenter.onnx``: raw features in, ``label``/``distances``/``scaled`` out."""

    file: str
    input: str
    outputs: tuple[str, ...]

    def to_json(self) -> Json:
        return {"file": self.file, "input": self.input, "outputs": list(self.outputs)}

    @classmethod
    def read(cls, body: _Object) -> Segmenter:
        return cls(body.text("file"), body.text("input"), body.texts("outputs"))


def quantile_output(quantile: float) -> str:
    """The limit graph's output name for a quantile: ``0.25`` -> ``"p25"``."""
    return f"p{round(quantile * 100):d}"


@dataclass(frozen=True)
class LimitModel:
    """The credit-limit benchmark: ``target`` predicted from ``features`` at ``quantiles``."""

    target: str
    features: tuple[str, ...]
    quantiles: tuple[float, ...]
    global_file: str

    @property
    def outputs(self) -> tuple[str, ...]:
        """The graph outputs, one per quantile, in ``quantiles`` order."""
        return tuple(quantile_output(q) for q in self.quantiles)

    def to_json(self) -> Json:
        return {
            "target": self.target,
            "features": list(self.features),
            "quantiles": list(self.quantiles),
            "global_file": self.global_file,
        }

    @classmethod
    def read(cls, body: _Object) -> LimitModel:
        return cls(
            target=body.text("target"),
            features=body.texts("features"),
            quantiles=body.numbers("quantiles"),
            global_file=body.text("global_file"),
        )


@dataclass(frozen=True)
class SegmentLimit:
    """Which limit graph a segment uses: its own (``segment``) or the ``global`` one."""

    file: str
    source: str

    def to_json(self) -> Json:
        return {"file": self.file, "source": self.source}

    @classmethod
    def read(cls, body: _Object) -> SegmentLimit:
        return cls(body.text("file"), body.text("source"))


@dataclass(frozen=True)
class Segment:
    """One segment: its story for people, and the numbers scoring needs.

    ``profile`` holds the descriptive keys (size, share, std_diff, top_features, example...)
    as training wrote them; the typed fields are what code reads. ``centroid_raw`` (the
    centroid in original units) lets the next training keep segment ids stable.
    """

    id: int
    name: str
    description: str
    action: str
    rules: tuple[str, ...]
    medians: dict[str, float | None]
    centroid_raw: dict[str, float | None]
    centroid: tuple[float, ...]
    distance_percentiles: tuple[float, ...]
    limit_model: SegmentLimit
    profile: Json = field(default_factory=dict)

    #: Numbers only the scorer needs; clients get the readable profile without them.
    INTERNAL = ("centroid", "distance_percentiles")

    def to_json(self) -> Json:
        typed = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "action": self.action,
            **self.profile,
            "medians": self.medians,
            "rules": list(self.rules),
            "centroid_raw": self.centroid_raw,
            "centroid": list(self.centroid),
            "distance_percentiles": list(self.distance_percentiles),
            "limit_model": self.limit_model.to_json(),
        }
        return typed

    def public(self) -> Json:
        """The segment as ``GET /v1/segments`` shows it."""
        return {k: v for k, v in self.to_json().items() if k not in self.INTERNAL}

    @classmethod
    def read(cls, body: _Object) -> Segment:
        medians, centroid_raw = body.obj("medians"), body.obj("centroid_raw")
        typed = (
            "id",
            "name",
            "description",
            "action",
            "rules",
            "medians",
            "centroid_raw",
            "centroid",
            "distance_percentiles",
            "limit_model",
        )
        return cls(
            id=body.whole("id"),
            name=body.text("name"),
            description=body.text("description"),
            action=body.text("action"),
            rules=body.texts("rules"),
            medians={str(k): medians.opt_number(str(k)) for k in medians.body},
            centroid_raw={str(k): centroid_raw.opt_number(str(k)) for k in centroid_raw.body},
            centroid=body.numbers("centroid"),
            distance_percentiles=body.numbers("distance_percentiles"),
            limit_model=SegmentLimit.read(body.obj("limit_model")),
            profile=body.rest(typed),
        )


@dataclass(frozen=True)
class SegmentMap:
    """A 2-D PCA of model space: ``components`` [2][17], ``mean`` [17], points to draw."""

    components: tuple[tuple[float, ...], ...]
    mean: tuple[float, ...]
    extra: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        typed = {"components": [list(c) for c in self.components], "mean": list(self.mean)}
        return _with_extra(typed, self.extra)

    @classmethod
    def read(cls, body: _Object) -> SegmentMap:
        rows = [
            _Object({"row": row}, f"{body.where}.components[{i}]").numbers("row")
            for i, row in enumerate(body.array("components"))
        ]
        return cls(tuple(rows), body.numbers("mean"), body.rest(("components", "mean")))


@dataclass(frozen=True)
class Elbow:
    """The elbow analysis: WCSS per k, the knee, the k used and why, plus other metrics."""

    k_values: tuple[int, ...]
    wcss: tuple[float, ...]
    knee: int | None
    k: int
    k_source: str
    extra: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        typed = {
            "k_values": list(self.k_values),
            "wcss": list(self.wcss),
            "knee": self.knee,
            "k": self.k,
            "k_source": self.k_source,
        }
        return _with_extra(typed, self.extra)

    @classmethod
    def read(cls, body: _Object) -> Elbow:
        return cls(
            k_values=tuple(int(k) for k in body.numbers("k_values")),
            wcss=body.numbers("wcss"),
            knee=body.opt_whole("knee"),
            k=body.whole("k"),
            k_source=body.text("k_source"),
            extra=body.rest(("k_values", "wcss", "knee", "k", "k_source")),
        )


@dataclass(frozen=True)
class Parity:
    """The proof that the graphs compute what scikit-learn computed (bounds, differences)."""

    passed: bool
    rows: int
    label_agreement: float
    extra: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        typed = {"passed": self.passed, "rows": self.rows, "label_agreement": self.label_agreement}
        return _with_extra(typed, self.extra)

    @classmethod
    def read(cls, body: _Object) -> Parity:
        return cls(
            passed=body.flag("passed"),
            rows=body.whole("rows"),
            label_agreement=body.number("label_agreement"),
            extra=body.rest(("passed", "rows", "label_agreement")),
        )


@dataclass(frozen=True)
class DataSource:
    """The training data: file name, sha256 and row count."""

    file: str | None
    sha256: str
    rows: int

    def to_json(self) -> Json:
        return {"file": self.file, "sha256": self.sha256, "rows": self.rows}

    @classmethod
    def read(cls, body: _Object) -> DataSource:
        return cls(body.opt_text("file"), body.text("sha256"), body.whole("rows"))


@dataclass(frozen=True)
class TrainingRun:
    """How the bundle was trained: seed, algorithm, total and per-step seconds."""

    seed: int
    algorithm: str
    seconds: float
    step_seconds: dict[str, float]
    extra: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        typed = {
            "seed": self.seed,
            "algorithm": self.algorithm,
            "seconds": self.seconds,
            "step_seconds": dict(self.step_seconds),
        }
        return _with_extra(typed, self.extra)

    @classmethod
    def read(cls, body: _Object) -> TrainingRun:
        steps = body.obj("step_seconds")
        return cls(
            seed=body.whole("seed"),
            algorithm=body.text("algorithm"),
            seconds=body.number("seconds"),
            step_seconds={str(k): steps.number(str(k)) for k in steps.body},
            extra=body.rest(("seed", "algorithm", "seconds", "step_seconds")),
        )


@dataclass(frozen=True)
class DriftFeature:
    """One feature's training distribution: decile ``edges``, ``shares`` per bin (one more
    than the edges; bin of x = number of edges strictly below x), share of missing values."""

    name: str
    edges: tuple[float, ...]
    shares: tuple[float, ...]
    missing_share: float

    def to_json(self) -> Json:
        return {
            "name": self.name,
            "edges": list(self.edges),
            "shares": list(self.shares),
            "missing_share": self.missing_share,
        }

    @classmethod
    def read(cls, body: _Object) -> DriftFeature:
        feature = cls(
            name=body.text("name"),
            edges=body.numbers("edges"),
            shares=body.numbers("shares"),
            missing_share=body.number("missing_share"),
        )
        if len(feature.shares) != len(feature.edges) + 1:
            raise ManifestError(f"{body.where}.shares must have one more entry than edges")
        return feature


@dataclass(frozen=True)
class SegmentShare:
    """A segment's share of the training rows."""

    id: int
    share: float

    def to_json(self) -> Json:
        return {"id": self.id, "share": self.share}

    @classmethod
    def read(cls, body: _Object) -> SegmentShare:
        return cls(body.whole("id"), body.number("share"))


@dataclass(frozen=True)
class DriftReference:
    """The training distribution that drift reports compare scored files with
    (``training/drift_reference.py`` writes it)."""

    bins: int
    rows: int
    features: tuple[DriftFeature, ...]
    segment_shares: tuple[SegmentShare, ...]
    extra: Json = field(default_factory=dict)

    def to_json(self) -> Json:
        typed = {
            "bins": self.bins,
            "rows": self.rows,
            "features": [f.to_json() for f in self.features],
            "segment_shares": [s.to_json() for s in self.segment_shares],
        }
        return _with_extra(typed, self.extra)

    @classmethod
    def read(cls, body: _Object) -> DriftReference:
        return cls(
            bins=body.whole("bins"),
            rows=body.whole("rows"),
            features=tuple(DriftFeature.read(f) for f in body.objects("features")),
            segment_shares=tuple(SegmentShare.read(s) for s in body.objects("segment_shares")),
            extra=body.rest(("bins", "rows", "features", "segment_shares")),
        )

    @classmethod
    def from_json(cls, body: Any) -> DriftReference:
        return cls.read(_Object(body, "drift_reference"))


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: everything serving needs besides the ONNX graphs.

    ``surrogate``, ``limit_errors`` and ``libraries`` are report sections passed through as
    JSON objects, as are ``stability`` (bootstrap stability per k and segment) and
    ``migration`` (None unless trained against a published model); ``drift_reference`` is
    optional (None: the bundle carries none); ``extra`` holds top-level sections this code
    does not know.
    """

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
    surrogate: Json
    limit_errors: Json
    parity: Parity
    data: DataSource
    libraries: dict[str, str]
    training: TrainingRun
    drift_reference: DriftReference | None = None
    stability: Json | None = None
    migration: Json | None = None
    extra: Json = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    # -- what readers ask of it ------------------------------------------------------

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def scoring_files(self) -> tuple[str, ...]:
        """The files scoring reads (the segmenter and every limit graph in use), in a
        stable order; the report files (e.g. the elbow plot) are not among them."""
        names = [self.segmenter.file, self.limit_model.global_file]
        names += [s.limit_model.file for s in self.segments]
        return tuple(dict.fromkeys(names))

    # -- JSON ------------------------------------------------------------------------

    def to_json(self) -> Json:
        typed: Json = {
            "schema_version": self.schema_version,
            "version": self.version,
            "created_at": self.created_at,
            "k": self.k,
            "features": [f.to_json() for f in self.features],
            "id_field": self.id_field,
            "files": {name: entry.to_json() for name, entry in self.files.items()},
            "segmenter": self.segmenter.to_json(),
            "limit_model": self.limit_model.to_json(),
            "segments": [s.to_json() for s in self.segments],
            "map": self.map.to_json(),
            "elbow": self.elbow.to_json(),
            "surrogate": self.surrogate,
            "limit_errors": self.limit_errors,
            "parity": self.parity.to_json(),
            "data": self.data.to_json(),
            "libraries": self.libraries,
            "training": self.training.to_json(),
        }
        if self.drift_reference is not None:
            typed["drift_reference"] = self.drift_reference.to_json()
        if self.stability is not None:
            typed["stability"] = self.stability
        typed["migration"] = self.migration  # null: not trained against a published model
        return _with_extra(typed, self.extra)

    def dumps(self) -> bytes:
        """Strict JSON (NaN refused), UTF-8, stable key order: the bytes of ``manifest.json``."""
        return json.dumps(self.to_json(), indent=2, allow_nan=False, ensure_ascii=False).encode()

    @classmethod
    def loads(cls, raw: bytes | str) -> Manifest:
        """Parse ``manifest.json``; :class:`ManifestError` says what is wrong."""
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ManifestError(f"{MANIFEST_NAME} is not valid JSON: {error}") from error
        return cls.from_json(body)

    @classmethod
    def from_json(cls, body: Any) -> Manifest:
        """The typed manifest; the schema version is checked first, then every section."""
        check_schema_version(body)
        top = _Object(body, "")
        files = top.obj("files")
        manifest = cls(
            version=top.text("version"),
            created_at=top.text("created_at"),
            k=top.whole("k"),
            features=tuple(Feature.read(f) for f in top.objects("features")),
            id_field=top.text("id_field"),
            files={str(name): FileEntry.read(files.obj(str(name))) for name in files.body},
            segmenter=Segmenter.read(top.obj("segmenter")),
            limit_model=LimitModel.read(top.obj("limit_model")),
            segments=tuple(Segment.read(s) for s in top.objects("segments")),
            map=SegmentMap.read(top.obj("map")),
            elbow=Elbow.read(top.obj("elbow")),
            surrogate=top.mapping("surrogate"),
            limit_errors=top.mapping("limit_errors"),
            parity=Parity.read(top.obj("parity")),
            data=DataSource.read(top.obj("data")),
            libraries={str(k): str(v) for k, v in top.mapping("libraries").items()},
            training=TrainingRun.read(top.obj("training")),
            drift_reference=(
                DriftReference.read(top.obj("drift_reference"))
                if top.body.get("drift_reference") is not None
                else None
            ),
            stability=top.mapping("stability") if top.body.get("stability") is not None else None,
            migration=top.mapping("migration") if top.body.get("migration") is not None else None,
            extra=top.rest(_SECTIONS),
            schema_version=top.whole("schema_version"),
        )
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
        drift = self.drift_reference
        if drift is not None and [f.name for f in drift.features] != list(names):
            problems.append("drift_reference.features must follow the features, in order")
        if drift is not None and [s.id for s in drift.segment_shares] != list(range(self.k)):
            problems.append(f"drift_reference.segment_shares must have ids 0..{self.k - 1}")
        if MANIFEST_NAME in self.files:
            problems.append(f"files must not list {MANIFEST_NAME} itself")
        if problems:
            raise ManifestError("manifest is not consistent: " + "; ".join(problems))


_SECTIONS = tuple(name for name in Manifest.__dataclass_fields__ if name != "extra")
