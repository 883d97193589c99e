"""Score a whole CSV file through the batch route, in pieces, and download the results.

The file goes to the API as CSV; the API reads it with the product's row contract and
answers its results table, which is what the page shows and what the download holds
(byte for byte the table the S3 batch function writes for the same file). Each answer also
carries the drift counts of its piece; the API adds them up into the drift report of the
whole file, shown as the Monitoring page shows a report (nothing is stored).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st
from app_lib import api, batch, charts, config, drift_view, ui
from app_lib.config import Settings

RESULTS_KEY = "batch_results"
DEFAULT_MAX_BATCH = 1000
DEFAULT_MAX_TALLIES = 500


def _score(upload: batch.Upload, model: dict[str, Any], name: str, fingerprint: str) -> None:
    settings = config.current()
    size = int((model.get("limits") or {}).get("max_batch") or DEFAULT_MAX_BATCH)
    total = max(upload.size, 1)
    progress = st.progress(0.0, text=f"Scoring {upload.size:,} rows...")

    def report(done: int) -> None:
        progress.progress(done / total, text=f"Scored {done:,} of {upload.size:,}")

    warnings: list[api.FieldError] = []
    tallies: list[dict[str, Any] | None] = []

    def send(body: bytes, first_row: int) -> bytes:
        answer = api.score_csv(settings, body, first_row)
        warnings[:] = answer.warnings  # every piece has the same header
        tallies.append(answer.tally)
        return answer.table

    try:
        table = batch.score_all(upload, min(size, DEFAULT_MAX_BATCH), send, report)
    except api.ApiError as error:
        progress.empty()
        st.session_state[RESULTS_KEY] = {"fingerprint": fingerprint, "error": error}
        return
    drift = _drift_report(settings, model, name, tallies)
    stored = {"fingerprint": fingerprint, "table": table, "warnings": warnings, "drift": drift}
    st.session_state[RESULTS_KEY] = stored


def _drift_report(
    settings: Settings, model: dict[str, Any], name: str, tallies: list[dict[str, Any] | None]
) -> dict[str, Any] | api.ApiError:
    """The whole file's drift report, added up by the API from the pieces' tallies, or why
    there is none (e.g. a model promoted while the file was being scored)."""
    sent = [t for t in tallies if t is not None]
    if not sent or len(sent) < len(tallies):
        return api.ApiError("The API sent no drift counts with its answers.")
    per_request = int((model.get("limits") or {}).get("max_tallies") or DEFAULT_MAX_TALLIES)
    try:
        return batch.whole_file_report(
            sent, lambda part: api.drift_report(settings, name, part), per_request
        )
    except api.ApiError as error:
        return error


def _show_refusal(error: api.ApiError) -> None:
    st.error(f"The file was not scored. {error}", icon=":material/error:")
    for problem in error.errors:
        st.error(f"`{problem.field}`: {problem.message}")


def _show_drift(drift: dict[str, Any] | api.ApiError, labels: dict[str, str]) -> None:
    """The file's drift summary, the very view of the Monitoring page."""
    st.subheader("Drift against training")
    st.caption(
        "The whole file against the training data of the model that scored it, as the "
        "Monitoring page shows a file the batch function scored. The file is not stored, "
        "and there is no migration to show: an uploaded file has no previous run."
    )
    if isinstance(drift, api.ApiError):
        ui.show_api_error(drift, "build the drift summary")
        return
    drift_view.show_summary(drift, labels)


def _show_results(results: pd.DataFrame) -> None:
    scored = int((results[batch.STATUS] == batch.SCORED).sum())
    one, two, three = st.columns(3)
    one.metric("Rows", f"{len(results):,}")
    two.metric("Scored", f"{scored:,}")
    three.metric("With errors", f"{len(results) - scored:,}")
    versions = sorted(set(results["model_version"]))
    st.caption(f"Model version `{', '.join(versions) or '-'}`. Rows are the file's rows.")

    left, right = st.columns([2, 3])
    with left:
        st.subheader("Rows per segment")
        counts = batch.segment_counts(results)
        if counts.empty:
            st.info("No row was scored.")
        else:
            st.altair_chart(charts.segment_counts(counts), width="stretch")
            st.dataframe(counts, hide_index=True)
    with right:
        st.subheader("Rows with errors")
        failed = results[results[batch.STATUS] != batch.SCORED]
        if failed.empty:
            st.success("Every row was scored.")
        else:
            used = failed.loc[:, (failed != "").any()]  # row, id, status, errors...
            st.dataframe(used, hide_index=True, width="stretch")


def _show_table(table: bytes, results: pd.DataFrame, file_name: str) -> None:
    st.subheader("Results")
    st.download_button(
        "Download results (CSV)",
        data=table,
        file_name=f"{file_name.rsplit('.', 1)[0]}_segments.csv",
        mime="text/csv",
        type="primary",
        on_click="ignore",
    )
    st.dataframe(results, hide_index=True, width="stretch")


def main() -> None:
    st.title("Batch scoring")
    st.markdown(
        "Upload a CSV with the data set's columns (`CUST_ID` optional). Every row is "
        "sent to the API in pieces; rows with problems are reported, never dropped."
    )
    model = ui.model_or_stop(config.current())
    upload = st.file_uploader("CSV file", type=["csv"])
    if upload is None:
        st.session_state.pop(RESULTS_KEY, None)
        st.info("Choose a file to begin.")
        st.stop()
    data = upload.getvalue()
    fingerprint = hashlib.sha256(data).hexdigest()
    parts = batch.split(data)
    st.caption(f"{upload.name}: {parts.size:,} rows after the header.")
    stored = st.session_state.get(RESULTS_KEY)
    if stored is None or stored["fingerprint"] != fingerprint:
        if not st.button(f"Score {parts.size:,} rows", type="primary"):
            st.stop()
        _score(parts, model, upload.name, fingerprint)
        stored = st.session_state[RESULTS_KEY]
    if "error" in stored:
        _show_refusal(stored["error"])
        st.stop()
    for warning in stored["warnings"]:
        st.warning(f"`{warning.field}`: {warning.message}")
    results = batch.read_results(stored["table"])
    _show_results(results)
    _show_drift(stored["drift"], ui.feature_labels(model.get("features") or []))
    _show_table(stored["table"], results, upload.name)


if __name__ == "__main__":
    main()
