"""The reflective JSON reader and writer (chalicelib.contract.codec) and the manifest it reads:
types checked as the contract says, errors that name the path, unknown keys kept in place."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from chalicelib.contract.bundle import Manifest, ManifestError
from chalicelib.contract.codec import OMIT_NONE, REST, DecodeError, decode, encode

from tests.manifests import a_manifest


@dataclass(frozen=True)
class Inner:
    file: str
    bytes: int


@dataclass(frozen=True, kw_only=True)
class Outer:
    k: int
    share: float
    ok: bool
    note: str | None
    values: tuple[float, ...]
    names: tuple[str, ...]
    counts: tuple[int, ...]
    grid: tuple[tuple[float, ...], ...]
    inner: tuple[Inner, ...]
    medians: dict[str, float | None]
    extra: dict[str, Any] = field(default_factory=dict, metadata=REST)
    last: int
    maybe: Inner | None = field(default=None, metadata=OMIT_NONE)


GOOD: dict[str, Any] = {
    "k": 3,
    "share": 1,
    "ok": True,
    "note": None,
    "values": [1.5, 2],
    "names": ["a"],
    "counts": [1, 2],
    "grid": [[1.0], [2.0, 3.0]],
    "inner": [{"file": "a.onnx", "bytes": 4}],
    "medians": {"BALANCE": 1.0, "TENURE": None},
    "last": 7,
}


def test_a_document_reads_into_its_types_and_writes_back_in_field_order() -> None:
    value = decode(Outer, GOOD)
    assert value.share == 1.0 and isinstance(value.share, float)
    assert value.values == (1.5, 2.0) and value.grid == ((1.0,), (2.0, 3.0))
    assert value.inner == (Inner("a.onnx", 4),)
    assert value.maybe is None and value.extra == {}
    written = encode(value)
    assert list(written) == [k for k in GOOD]  # maybe: None and OMIT_NONE, so absent
    assert written == {**GOOD, "share": 1.0, "values": [1.5, 2.0]}


def test_unknown_keys_are_kept_and_written_back_at_the_rest_fields_place() -> None:
    value = decode(Outer, {"added": {"x": [1]}, **GOOD})
    assert value.extra == {"added": {"x": [1]}}
    assert list(encode(value)) == [*list(GOOD)[:-1], "added", "last"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"k": "x"}, "k must be a whole number, got 'x'"),
        ({"k": True}, "k must be a whole number, got True"),
        ({"k": 2.0}, "k must be a whole number, got 2.0"),
        ({"share": False}, "share must be a number, got False"),
        ({"ok": 1}, "ok must be true or false, got 1"),
        ({"note": 5}, "note must be a string, got 5"),
        ({"values": [1.0, "2"]}, "values must be a list of numbers, got [1.0, '2']"),
        ({"values": [True]}, "values must be a list of numbers, got [True]"),
        ({"values": {}}, "values must be a list, got {}"),
        ({"counts": [1.5]}, "counts must be a list of whole numbers, got [1.5]"),
        ({"names": [1]}, "names must be a list of strings, got [1]"),
        ({"grid": [[1.0], ["a"]]}, "grid[1] must be a list of numbers, got ['a']"),
        ({"inner": [{"file": "a"}]}, "inner[0].bytes is missing"),
        ({"inner": ["a"]}, "inner[0] must be a JSON object"),
        ({"medians": {"TENURE": "x"}}, "medians.TENURE must be a number, got 'x'"),
        ({"maybe": {"file": 1, "bytes": 1}}, "maybe.file must be a string, got 1"),
    ],
)
def test_a_wrong_type_names_its_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(Outer, {**GOOD, **change})
    assert str(caught.value) == message


def test_an_optional_key_may_be_absent_and_a_required_one_may_not() -> None:
    assert decode(Outer, {k: v for k, v in GOOD.items() if k != "note"}).note is None
    with pytest.raises(DecodeError, match=r"^last is missing$"):
        decode(Outer, {k: v for k, v in GOOD.items() if k != "last"})
    with pytest.raises(DecodeError, match="must be a JSON object"):
        decode(Outer, [GOOD])


def test_a_manifest_error_names_the_key_path() -> None:
    body = a_manifest().to_json()
    del body["segments"][1]["limit_model"]["file"]
    with pytest.raises(ManifestError, match=r"^segments\[1\]\.limit_model\.file is missing$"):
        Manifest.from_json(body)
    body = a_manifest().to_json() | {"k": "x"}
    with pytest.raises(ManifestError, match=r"^k must be a whole number, got 'x'$"):
        Manifest.from_json(body)


def test_a_manifest_keeps_unknown_sections_and_keys_and_its_bytes() -> None:
    body = a_manifest().to_json()
    body["future_section"] = {"a": 1}
    body["elbow"]["gap_statistic"] = [0.1]
    segment = body["segments"][0]  # its unknown keys sit where its profile ends
    at = list(segment).index("example") + 1
    body["segments"][0] = dict(
        [*list(segment.items())[:at], ("loyalty", "high"), *list(segment.items())[at:]]
    )
    raw = json.dumps(body, indent=2, ensure_ascii=False).encode()
    manifest = Manifest.loads(raw)
    assert manifest.extra == {"future_section": {"a": 1}}
    assert manifest.elbow.extra == {"gap_statistic": [0.1]}
    assert manifest.segments[0].extra == {"loyalty": "high"}
    assert manifest.dumps() == raw


def test_dumps_refuses_nan() -> None:
    manifest = a_manifest()
    broken = replace(manifest, parity=replace(manifest.parity, label_agreement=float("nan")))
    with pytest.raises(ValueError, match="not JSON compliant"):
        broken.dumps()


def test_the_real_bundle_reads_and_writes_back_to_the_same_bytes(bundle: Any) -> None:
    raw = (bundle.path / "manifest.json").read_bytes()
    assert Manifest.loads(raw).dumps() == raw


def test_a_manifest_without_the_scaler_numbers_reads_and_writes_back_to_the_same_bytes(
    bundle: Any,
) -> None:
    """Bundles trained before ``scaler_mean``/``scaler_scale`` were written: both read as
    None and are not written back (no ``null`` appears): the same bytes."""
    body = json.loads((bundle.path / "manifest.json").read_bytes())
    for feature in body["features"]:
        assert feature.pop("scaler_scale") > 0
        del feature["scaler_mean"]
    raw = json.dumps(body, indent=2, ensure_ascii=False).encode()
    manifest = Manifest.loads(raw)
    assert {(f.scaler_mean, f.scaler_scale) for f in manifest.features} == {(None, None)}
    assert manifest.dumps() == raw
