"""How the model was built: elbow curve, metrics and stability per k, migration from the
previous model, version, parity and limit errors."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from app_lib import api, charts, config, tables, ui


def _k_explanation(elbow: dict[str, Any]) -> str:
    source = elbow.get("k_source", "knee")
    reasons = {
        "knee": "the knee of the elbow curve",
        "override": "a configured override",
        "silhouette": "the best silhouette (no knee was found)",
        "stability": "the stability rule (the knee's k was unstable)",
    }
    text = f"k = {elbow.get('k')} chosen by {reasons.get(source, source)}"
    if elbow.get("best_silhouette_k") is not None:
        text += f"; best silhouette at k = {elbow['best_silhouette_k']}"
    return text + "."


def _stability_section(stability: dict[str, Any] | None, names: dict[str, str]) -> None:
    st.subheader("Segment stability")
    if not stability:
        st.info("This model was trained before stability was measured.")
        return
    st.markdown(
        f"{stability.get('resamples')} bootstrap resamples of "
        f"{stability.get('sample_size', 0):,} customers per k: a k is stable when its mean "
        f"adjusted Rand index against the full-data clustering is at least "
        f"{stability.get('threshold')}. **{stability.get('reason', '')}.**"
    )
    st.dataframe(
        tables.segment_stability_table(stability, names),
        hide_index=True,
        column_config={"Jaccard stability": st.column_config.NumberColumn(format="%.3f")},
    )
    st.caption(
        "Jaccard stability: how well each segment is found again in resampled data "
        f"(1 = always the same customers; below {stability.get('jaccard_threshold')} "
        "it is flagged as not stable)."
    )


def _migration_section(migration: dict[str, Any] | None) -> None:
    st.subheader("Migration from the previous model")
    if not migration:
        st.info("This model was trained afresh, not against a published model.")
        return
    one, two = st.columns(2)
    one.metric("Previous model", str(migration.get("from_version", "-")))
    two.metric(
        "Customers whose segment changed",
        f"{migration.get('changed_share', 0):.1%}",
        help=f"{migration.get('changed', 0):,} of the {migration.get('rows', 0):,} training "
        "customers are in another segment under this model than under the previous one.",
    )
    cells = tables.model_migration_cells(migration)
    if len(cells):
        st.altair_chart(charts.migration_heatmap(cells), width="stretch")


def _headline(model: dict[str, Any], elbow: dict[str, Any]) -> None:
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


def _elbow_section(elbow: dict[str, Any], stability: Any) -> None:
    st.subheader("Choosing the number of segments")
    if not (elbow.get("k_values") and elbow.get("wcss")):
        st.info("The API reports no elbow table for this model.")
        return
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
        tables.metrics_per_k(elbow, stability),
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
            "Davies-Bouldin": st.column_config.NumberColumn(format="%.3f", help="Lower is better."),
            "stability (ARI)": st.column_config.NumberColumn(
                format="%.3f",
                help="Mean adjusted Rand index of bootstrap resamples against the full "
                "data (1 = the same segments every time).",
            ),
        },
    )
    if elbow.get("silhouette_sample_size"):
        st.caption(f"Silhouette computed on {elbow['silhouette_sample_size']:,} customers.")


def _parity_section(parity: dict[str, Any]) -> None:
    st.subheader("ONNX parity")
    if not parity:
        return
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


def _limit_errors_section(limit_errors: dict[str, Any], names: dict[str, str]) -> None:
    st.subheader("Credit-limit benchmark errors")
    table = tables.limit_errors_table(limit_errors, names)
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
    elif limit_errors:
        st.json(limit_errors)
    else:
        st.info("No limit-model errors reported.")


def main() -> None:
    st.title("Model")
    settings = config.current()
    model = ui.model_or_stop(settings)
    elbow: dict[str, Any] = model.get("elbow") or {}
    _headline(model, elbow)
    _elbow_section(elbow, model.get("stability"))
    try:
        names = {str(s["id"]): s["name"] for s in api.get_segments(settings)["segments"]}
    except api.ApiError:
        names = {}
    _stability_section(model.get("stability"), names)
    _migration_section(model.get("migration"))
    _parity_section(model.get("parity") or {})
    _limit_errors_section(model.get("limit_errors") or {}, names)
    with st.expander("Data and libraries"):
        st.json({"data": model.get("data"), "libraries": model.get("libraries")})
        st.json({"limits": model.get("limits")})


if __name__ == "__main__":
    main()
