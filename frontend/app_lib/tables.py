"""The tables the pages show, shaped from the API's JSON (no Streamlit calls here): the
Model page's metrics per k, stability and limit errors, and the migration heat map's cells
(Model and Monitoring pages)."""

from __future__ import annotations

from typing import Any

import pandas as pd


def metrics_per_k(elbow: dict[str, Any], stability: dict[str, Any] | None = None) -> pd.DataFrame:
    """One row per k: WCSS, the clustering quality indices and the bootstrap stability."""
    ari = (stability or {}).get("ari_mean") or {}
    threshold = (stability or {}).get("threshold")
    rows = []
    for k, wcss in zip(elbow.get("k_values", []), elbow.get("wcss", []), strict=False):
        key = str(k)
        rows.append(
            {
                "k": k,
                "WCSS": wcss,
                "silhouette": (elbow.get("silhouette") or {}).get(key),
                "Calinski-Harabasz": (elbow.get("calinski_harabasz") or {}).get(key),
                "Davies-Bouldin": (elbow.get("davies_bouldin") or {}).get(key),
                "stability (ARI)": ari.get(key),
                "stable": _stable_mark(ari.get(key), threshold),
                "chosen": "yes" if k == elbow.get("k") else "",
            }
        )
    return pd.DataFrame(rows)


def _stable_mark(ari: float | None, threshold: float | None) -> str:
    if ari is None or threshold is None:
        return ""
    return "yes" if ari >= threshold else "no"


def segment_stability_table(stability: dict[str, Any], names: dict[str, str]) -> pd.DataFrame:
    """Per segment of the chosen k: its mean bootstrap Jaccard and whether it is stable."""
    return pd.DataFrame(
        [
            {
                "segment": names.get(str(s["id"]), str(s["id"])),
                "Jaccard stability": s.get("jaccard"),
                "stable": "yes" if s.get("stable") else "no",
            }
            for s in stability.get("segments") or []
        ]
    )


def model_migration_cells(migration: dict[str, Any]) -> pd.DataFrame:
    """The manifest's migration (previous model -> this one) as heat-map cells, each segment
    named with its id."""

    def labels(key: str) -> list[str]:
        return [f"{s['id']} {s.get('name', '')}".strip() for s in migration.get(key) or []]

    return migration_cells(
        migration.get("matrix") or [], labels("from_segments"), labels("to_segments")
    )


def migration_cells(
    matrix: list[list[int]], sources: list[str], targets: list[str]
) -> pd.DataFrame:
    """A migration matrix (rows: segment before, columns: segment now) as one row per
    (from, to) pair: the cells the migration heat map draws."""
    return pd.DataFrame(
        [
            {"from_segment": sources[i], "to_segment": targets[j], "customers": int(count)}
            for i, row in enumerate(matrix)
            for j, count in enumerate(row)
        ],
        columns=["from_segment", "to_segment", "customers"],
    )


LIMIT_CANDIDATES = {
    "segment": "segment model",
    "global": "global model",
    "segment_median": "segment median",
}


def limit_errors_table(limit_errors: Any, names: dict[str, str]) -> pd.DataFrame | None:
    """Per segment: pinball loss and MAE of each candidate benchmark, and the one in use.

    Returns None when the errors do not have the per-segment shape training writes.
    """
    segments = limit_errors.get("segments") if isinstance(limit_errors, dict) else None
    if not isinstance(segments, dict) or not segments:
        return None
    rows = []
    for segment_id, errors in segments.items():
        row: dict[str, Any] = {
            "segment": names.get(str(segment_id), str(segment_id)),
            "test rows": errors.get("test_rows"),
            "in use": errors.get("source"),
        }
        for key, label in LIMIT_CANDIDATES.items():
            candidate = errors.get(key) or {}
            row[f"pinball, {label}"] = candidate.get("pinball")
            row[f"MAE p50, {label}"] = candidate.get("mae_p50")
        row["why"] = errors.get("reason", "")
        rows.append(row)
    return pd.DataFrame(rows)


def path_changes(
    changes: list[dict[str, Any]], features: list[dict[str, Any]], labels: dict[str, str]
) -> pd.DataFrame:
    """A path's changes as a before/after table in the data's units (text, so each row keeps
    its own unit): money to the cent, frequencies as 0-1 to three decimals, counts whole;
    a missing value's "before" is the imputed median, marked."""
    kinds = {f["name"]: str(f.get("kind", "")) for f in features}
    rows = []
    for change in changes:
        kind = kinds.get(change["feature"], "")
        before = _in_units(change["from"], kind)
        rows.append(
            {
                "variable": labels.get(change["feature"], change["feature"]),
                "before": f"{before} (imputed)" if change.get("imputed") else before,
                "after": _in_units(change["to"], kind),
                "change": _in_units(change["change"], kind, signed=True),
            }
        )
    return pd.DataFrame(rows, columns=["variable", "before", "after", "change"])


def _in_units(value: float, kind: str, signed: bool = False) -> str:
    sign = "+" if signed else ""
    if kind in {"count", "months"}:
        return f"{value:{sign},.0f}"
    if kind == "score":
        return f"{value:{sign}.3f}"
    return f"{value:{sign},.2f}"
