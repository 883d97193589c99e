"""How the model was built: elbow curve, metrics per k, version, parity and limit errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from app_lib import api, charts, config, ui


def metrics_per_k(elbow: dict[str, Any]) -> pd.DataFrame:
    """One row per k: WCSS and the clustering quality indices the API reports."""
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
                "chosen": "yes" if k == elbow.get("k") else "",
            }
        )
    return pd.DataFrame(rows)


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


def _k_explanation(elbow: dict[str, Any]) -> str:
    source = elbow.get("k_source", "knee")
    reasons = {
        "knee": "the knee of the elbow curve",
        "override": "a configured override",
        "silhouette": "the best silhouette (no knee was found)",
    }
    text = f"k = {elbow.get('k')} chosen by {reasons.get(source, source)}"
    if elbow.get("best_silhouette_k") is not None:
        text += f"; best silhouette at k = {elbow['best_silhouette_k']}"
    return text + "."


def main() -> None:
    st.title("Model")
    settings = config.current()
    model = ui.model_or_stop(settings)
    elbow: dict[str, Any] = model.get("elbow") or {}

    st.markdown(
        f"Version `{model.get('version', '-')}`, trained at `{model.get('created_at', '-')}`."
    )
    one, two, three, four = st.columns(4)
    one.metric("Segments (k)", str(model.get("k", "-")))
    two.metric("Knee of the elbow", str(elbow.get("knee") or "none"))
    best = elbow.get("best_silhouette_k")
    three.metric("Best silhouette at k", str(best) if best is not None else "-")
    surrogate = model.get("surrogate") or {}
    four.metric(
        "Rules agree with model",
        f"{surrogate['agreement']:.1%}" if "agreement" in surrogate else "-",
        help="Share of customers the readable rules (a shallow decision tree) put in the "
        "same segment as the model.",
    )

    st.subheader("Choosing the number of segments")
    if elbow.get("k_values") and elbow.get("wcss"):
        left, right = st.columns([3, 2])
        with left:
            st.altair_chart(
                charts.elbow_curve(elbow["k_values"], elbow["wcss"], int(elbow.get("k", 0))),
                width="stretch",
            )
        with right:
            st.markdown(_k_explanation(elbow))
            for note in elbow.get("notes") or []:
                st.caption(note)
        st.dataframe(
            metrics_per_k(elbow),
            hide_index=True,
            width="stretch",
            column_config={
                "WCSS": st.column_config.NumberColumn(format="%.0f"),
                "silhouette": st.column_config.NumberColumn(
                    format="%.3f", help="Higher is better (-1 to 1)."
                ),
                "Calinski-Harabasz": st.column_config.NumberColumn(
                    format="%.0f", help="Higher is better."
                ),
                "Davies-Bouldin": st.column_config.NumberColumn(
                    format="%.3f", help="Lower is better."
                ),
            },
        )
        if elbow.get("silhouette_sample_size"):
            st.caption(f"Silhouette computed on {elbow['silhouette_sample_size']:,} customers.")
    else:
        st.info("The API reports no elbow table for this model.")

    st.subheader("ONNX parity")
    parity = model.get("parity") or {}
    if parity:
        status = "passed" if parity.get("passed") else "FAILED"
        st.markdown(
            f"The exported graphs were checked against scikit-learn on "
            f"{parity.get('rows', '?'):,} rows: **{status}**; label agreement "
            f"{parity.get('label_agreement', 0):.2%}."
        )
        diffs = parity.get("max_abs_diff") or {}
        bounds = parity.get("bounds") or {}
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "output": name,
                        "max abs difference": diffs.get(name),
                        "bound": bounds.get(name, bounds.get(name.split("_")[0])),
                    }
                    for name in diffs
                ]
            ),
            hide_index=True,
        )

    st.subheader("Credit-limit benchmark errors")
    limit_errors: dict[str, Any] = model.get("limit_errors") or {}
    try:
        names = {str(s["id"]): s["name"] for s in api.get_segments(settings)["segments"]}
    except api.ApiError:
        names = {}
    table = limit_errors_table(limit_errors, names)
    if table is not None:
        st.caption(
            f"{limit_errors.get('metric', '')} (lower is better). Each segment uses its own "
            "model only where it beats the global one."
        )
        st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            column_config={
                c: st.column_config.NumberColumn(format="%.0f")
                for c in table.columns
                if c.startswith(("pinball", "MAE"))
            },
        )
    elif model.get("limit_errors"):
        st.json(model["limit_errors"])
    else:
        st.info("No limit-model errors reported.")

    with st.expander("Data and libraries"):
        st.json({"data": model.get("data"), "libraries": model.get("libraries")})
        st.json({"limits": model.get("limits")})


if __name__ == "__main__":
    main()
