"""Monitoring: drift and migration reports of scored files, against the training data."""

from __future__ import annotations

from typing import Any

import streamlit as st
from app_lib import api, config, drift_view, ui


def _choose(reports: list[dict[str, Any]]) -> str:
    def label(name: str) -> str:
        entry = next(r for r in reports if r["name"] == name)
        return f"{name}  ({entry['created_at'][:16].replace('T', ' ')}, {entry['status']})"

    return str(st.selectbox("Report", [r["name"] for r in reports], format_func=label))


def main() -> None:
    st.title("Monitoring")
    st.markdown(
        "Every file scored by the batch function gets a report: how far its customers "
        "have drifted from the data the model was trained on, and, when the same file "
        "name was scored before, which customers moved segment."
    )
    settings = config.current()
    try:
        listed = api.list_reports(settings)["reports"]
    except api.ApiError as error:
        ui.show_api_error(error, "list the reports")
        st.stop()
    if not listed:
        st.info(
            "No report yet. Put a CSV under `batch/input/` in the batch bucket (locally: "
            "`infra/local_stack.py score-file FILE.csv`, see the README)."
        )
        st.stop()
    st.dataframe(
        [
            {
                "file": r["name"],
                "when": r["created_at"],
                "rows": r["rows"],
                "status": r["status"],
                "worst PSI": (r.get("worst_psi") or {}).get("psi"),
                "segment shift": r.get("segment_max_change"),
                "moved": r.get("moved"),
            }
            for r in listed
        ],
        hide_index=True,
        width="stretch",
    )
    name = _choose(listed)
    try:
        report = api.get_report(settings, name)
    except api.ApiError as error:
        ui.show_api_error(error, f"load the report {name!r}")
        st.stop()
    model = ui.model_or_stop(settings)
    labels = ui.feature_labels(model.get("features") or [])
    names = {int(s["id"]): str(s["name"]) for s in report["segments"]["shares"]}
    st.caption(f"Scored with model `{report['model_version']}` at {report['created_at']}.")
    drift_view.show_summary(report, labels)
    drift_view.show_migration(report.get("migration"), names)


if __name__ == "__main__":
    main()
