"""The drift summary of a scored file and its migration since the previous run, as the
Monitoring page shows them.

Everything shown comes from a report the API built (``GET /v1/reports/{name}`` for a file
the batch function scored, ``POST /v1/drift/report`` for one the Batch page sent in pieces):
the thresholds too, so no rule is restated here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app_lib import charts, tables

STATUS_TEXT = {
    "stable": "Stable: the file looks like the training data.",
    "watch": "Watch: some variables are shifting away from the training data.",
    "retrain": "Retrain: the population has moved away from what the model was trained on.",
    "no data": "No scored rows to compare.",
}


def _percent(value: Any) -> str:
    return "-" if value is None else f"{value:.1%}"


def show_summary(report: dict[str, Any], labels: dict[str, str]) -> None:
    """Headline figures, flags, segment shares and the PSI chart of one report."""
    status = str(report.get("status", "no data"))
    message = STATUS_TEXT.get(status, status)
    {"retrain": st.error, "watch": st.warning}.get(status, st.success)(message)
    _headline(report, labels)
    _flags(report.get("flags") or [], labels)
    left, right = st.columns(2)
    with left:
        st.subheader("Segment shares: now vs training")
        st.altair_chart(
            charts.segment_shares_now_vs_training(report["segments"]["shares"]), width="stretch"
        )
    with right:
        _psi_chart(report.get("features") or [], report.get("thresholds") or {}, labels)


def _headline(report: dict[str, Any], labels: dict[str, str]) -> None:
    worst = report.get("worst_psi") or {}
    unusual = report.get("unusual_share") or {}
    outside = report.get("outside_range_share") or {}
    one, two, three, four = st.columns(4)
    one.metric("Scored rows", f"{report.get('rows', 0):,}")
    two.metric(
        "Worst PSI",
        "-" if not worst else f"{worst['psi']:.3f}",
        help=f"Feature: {labels.get(worst.get('feature', ''), worst.get('feature', '-'))}",
    )
    three.metric(
        "Unusual customers",
        _percent(unusual.get("now")),
        help=f"Farther from their segment centre than 75 % of its training members "
        f"(at training: {_percent(unusual.get('training'))}).",
    )
    four.metric(
        "Values outside the training range",
        _percent(outside.get("values")),
        help=f"Rows with at least one: {_percent(outside.get('rows'))}.",
    )


def _flags(flags: list[dict[str, Any]], labels: dict[str, str]) -> None:
    if not flags:
        return
    st.dataframe(
        [
            {
                "variable": labels.get(f["feature"], f["feature"]),
                "PSI": f["psi"],
                "status": f["status"],
                "why": f["message"],
            }
            for f in flags
        ],
        hide_index=True,
        width="stretch",
    )


def _psi_chart(
    features: list[dict[str, Any]], thresholds: dict[str, Any], labels: dict[str, str]
) -> None:
    st.subheader("Drift per variable (PSI)")
    if not features:
        st.info("This model's bundle carries no training distribution to compare with.")
        return
    watch = float(thresholds.get("psi_watch", 0.1))
    retrain = float(thresholds.get("psi_retrain", 0.25))
    st.altair_chart(charts.psi_per_feature(features, labels, watch, retrain), width="stretch")
    st.caption(
        f"Below {thresholds.get('psi_watch')}: stable; up to "
        f"{thresholds.get('psi_retrain')}: watch; above: retrain."
    )


def file_migration_cells(migration: dict[str, Any], names: dict[int, str]) -> pd.DataFrame:
    """A report's migration (previous run -> this one) as heat-map cells, by segment name."""
    labels = [names.get(int(s), str(s)) for s in migration["segments"]]
    return tables.migration_cells(migration["matrix"], labels, labels)


def show_migration(migration: dict[str, Any] | None, names: dict[int, str]) -> None:
    """The migration since the previous run of the same file, or why there is none."""
    st.subheader("Migration since the previous run")
    if not migration:
        st.info("First run of this file name: nothing to compare with yet.")
        return
    one, two, three, four = st.columns(4)
    one.metric("Matched by CUST_ID", f"{migration['matched']:,}")
    two.metric("Moved segment", f"{migration['moved']:,}", help=_percent(migration["moved_share"]))
    three.metric("New", f"{migration['new']:,}")
    four.metric("Gone", f"{migration['gone']:,}")
    previous = migration.get("previous_run") or {}
    st.caption(
        f"Previous run {previous.get('created_at', '-')} with model "
        f"`{previous.get('model_version', '-')}`."
    )
    if migration["matched"]:
        st.altair_chart(
            charts.migration_heatmap(file_migration_cells(migration, names)), width="stretch"
        )
