"""The segments: sizes, profiles in original units, differences, rules, actions and a map."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
from app_lib import charts, config, ui

ROW_PIXELS = 35  # st.dataframe's row height


def profile_table(segments: list[dict[str, Any]], labels: dict[str, str]) -> pd.DataFrame:
    """Median of every feature per segment, original units (rows: features)."""
    columns = {segment["name"]: segment.get("medians", {}) for segment in segments}
    table = pd.DataFrame(columns)
    table.index = [labels.get(name, name) for name in table.index]
    return table


def std_diff_frame(segments: list[dict[str, Any]], labels: dict[str, str]) -> pd.DataFrame:
    """Long table of standardized differences for the heat map, features in schema order."""
    rows = [
        {"feature": labels.get(name, name), "segment_name": segment["name"], "std_diff": value}
        for segment in segments
        for name, value in (segment.get("std_diff") or {}).items()
    ]
    return pd.DataFrame(rows, columns=["feature", "segment_name", "std_diff"])


def _segment_card(segment: dict[str, Any], labels: dict[str, str]) -> None:
    with st.container(border=True):
        st.markdown(f"#### {segment['name']}")
        st.caption(f"{segment['size']:,} customers · {segment['share']:.1%} of the portfolio")
        st.write(segment.get("description", ""))
        st.markdown(f"**Action:** {segment.get('action', '-')}")
        top = segment.get("top_features") or []
        if top:
            st.markdown(
                "**Stands out by:** "
                + ", ".join(
                    f"{labels.get(t['feature'], t['feature'])} ({t['direction']}, "
                    f"{t['std_diff']:+.1f} sd)"
                    for t in top
                )
            )
        rules = segment.get("rules") or []
        if rules:
            st.markdown("**Rule of thumb** (shallow decision tree):")
            st.code("\n".join(rules), language=None, wrap_lines=True)
        limit = segment.get("limit_model") or {}
        if limit:
            st.caption(f"Credit-limit benchmark model: {limit.get('source', '-')}")


def main() -> None:
    st.title("Segments")
    settings = config.current()
    data = ui.segments_or_stop(settings)
    segments: list[dict[str, Any]] = data.get("segments") or []
    if not segments:
        st.warning("The API returned no segments.")
        st.stop()
    model = ui.model_or_stop(settings)
    labels = ui.feature_labels(model.get("features") or [])
    names = ui.segment_names(segments)

    st.caption(f"Model version `{data.get('model_version', '-')}`.")
    one, two, _ = st.columns(3)
    one.metric("Segments", len(segments))
    two.metric("Customers profiled", f"{sum(s['size'] for s in segments):,}")

    left, right = st.columns([1, 2])
    with left:
        st.subheader("Sizes")
        st.altair_chart(charts.segment_sizes(segments), width="stretch")
    with right:
        st.subheader("Map of the segments")
        last: dict[str, Any] = st.session_state.get(ui.LAST_SCORE_KEY) or {}
        position = last.get("map_position")
        st.altair_chart(charts.segment_map(data.get("map") or {}, names, position), width="stretch")
        if position:
            st.caption(
                f"◆ the last scored customer ({last['segment']['name']}). Crosses mark the "
                "segment centres; dots are a sample of training customers (2-D PCA)."
            )
        else:
            st.caption(
                "Crosses mark the segment centres; dots are a sample of training customers "
                "(2-D PCA). Score a customer to see where they fall."
            )

    st.subheader("Who they are")
    columns = st.columns(min(len(segments), 3))
    for position_in_grid, segment in enumerate(segments):
        with columns[position_in_grid % len(columns)]:
            _segment_card(segment, labels)

    st.subheader("Profiles")
    st.caption("Median of each variable per segment, in original units.")
    profiles = profile_table(segments, labels)
    st.dataframe(
        profiles.style.format("{:,.2f}"),
        width="stretch",
        height=ROW_PIXELS * (len(profiles) + 1) + 3,  # every feature visible, no inner scroll
    )
    st.subheader("How each segment differs from the population")
    st.caption(
        "Standardized difference: (segment mean - population mean) / population standard "
        "deviation, after the model's log transform. Red = higher, blue = lower."
    )
    st.altair_chart(charts.std_diff_heatmap(std_diff_frame(segments, labels)), width="stretch")


if __name__ == "__main__":
    main()
