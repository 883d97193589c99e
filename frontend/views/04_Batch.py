"""Score a whole CSV file through the batch route, in chunks, and download the results."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st
from app_lib import api, batch, charts, config, ui

RESULTS_KEY = "batch_results"
DEFAULT_MAX_BATCH = 1000


def _check(frame: pd.DataFrame, model: dict[str, Any]) -> batch.ColumnCheck:
    check = batch.check_columns(
        list(frame.columns), model.get("features") or [], model.get("id_field") or "CUST_ID"
    )
    if check.missing_required:
        st.error(
            "The file lacks required columns: " + ", ".join(check.missing_required) + ". "
            "Use the data set's column names (see the Model page for the list).",
            icon=":material/error:",
        )
    if check.missing_optional:
        st.info(
            "Optional columns absent, the API will use the medians: "
            + ", ".join(check.missing_optional)
        )
    if check.ignored:
        st.warning("Columns not used by the model (ignored): " + ", ".join(check.ignored))
    return check


def _score(frame: pd.DataFrame, model: dict[str, Any], fingerprint: str) -> None:
    settings = config.current()
    features = model.get("features") or []
    id_field = model.get("id_field") or "CUST_ID"
    customers = batch.to_customers(frame, [f["name"] for f in features], id_field)
    chunk_size = int((model.get("limits") or {}).get("max_batch") or DEFAULT_MAX_BATCH)
    progress = st.progress(0.0, text=f"Scoring {len(customers):,} rows...")

    def report(done: int) -> None:
        progress.progress(done / len(customers), text=f"Scored {done:,} of {len(customers):,}")

    results, version, first_error = batch.score_all(
        customers,
        min(chunk_size, DEFAULT_MAX_BATCH),
        lambda rows: api.score_batch(settings, rows),
        report,
    )
    st.session_state[RESULTS_KEY] = {
        "fingerprint": fingerprint,
        "results": results,
        "version": version,
        "error": first_error,
    }


def _show_results(stored: dict[str, Any], file_name: str) -> None:
    results: pd.DataFrame = stored["results"]
    scored = int((results["status"] == "scored").sum())
    if stored.get("error"):
        st.error(
            f"Some rows could not be sent to the API: {stored['error']}", icon=":material/error:"
        )
    one, two, three = st.columns(3)
    one.metric("Rows", f"{len(results):,}")
    two.metric("Scored", f"{scored:,}")
    three.metric("With errors", f"{len(results) - scored:,}")
    st.caption(f"Model version `{stored.get('version') or '-'}`.")

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
        failed = results[results["status"] != "scored"][["row", "customer_id", "errors"]]
        if failed.empty:
            st.success("Every row was scored.")
        else:
            st.dataframe(failed, hide_index=True, width="stretch")

    st.subheader("Results")
    st.download_button(
        "Download results (CSV)",
        data=batch.to_csv_bytes(results),
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
        "sent to the API in chunks; rows with problems are reported, never dropped."
    )
    model = ui.model_or_stop(config.current())
    upload = st.file_uploader("CSV file", type=["csv"])
    if upload is None:
        st.session_state.pop(RESULTS_KEY, None)
        st.info("Choose a file to begin.")
        st.stop()
    data = upload.getvalue()
    fingerprint = hashlib.sha256(data).hexdigest()
    try:
        frame = batch.read_csv(data)
    except batch.UploadError as error:
        st.error(str(error), icon=":material/error:")
        st.stop()
    if frame.empty:
        st.warning("The file has a header but no rows.")
        st.stop()
    st.caption(f"{upload.name}: {len(frame):,} rows, {len(frame.columns)} columns.")
    if not _check(frame, model).ok:
        st.stop()
    stored = st.session_state.get(RESULTS_KEY)
    if stored is None or stored["fingerprint"] != fingerprint:
        if not st.button(f"Score {len(frame):,} rows", type="primary"):
            with st.expander("Preview"):
                st.dataframe(frame.head(20), hide_index=True)
            st.stop()
        _score(frame, model, fingerprint)
        stored = st.session_state[RESULTS_KEY]
    _show_results(stored, upload.name)


if __name__ == "__main__":
    main()
