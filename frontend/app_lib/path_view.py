"""The Score page's "Path to another segment": ask the API for a path from the last scored
customer to a segment, and show it.

Everything shown comes from ``POST /v1/segment/path``: the proposed customer, the changes
in the data's units, the check (the proposed customer scored by the same model) and both
map positions; the map itself from ``GET /v1/segments``. No rule of the path is restated
here: the API picks the default variables and answers why when there is no path.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_lib import api, charts, tables, ui
from app_lib.config import Settings

PATH_KEY = "last_path"
TARGET_KEY = "path_target"
MAY_CHANGE_KEY = "path_may_change"
ROW_PIXELS = 35  # a data grid row: the whole table shows, 17 variables at most
NOT_A_FORECAST = (
    "The cost is the squared distance in the model's scaled space over the variables allowed "
    "to move: the nearest point the model calls a typical member of the segment. A path is "
    "not a forecast of the customer's behaviour, not a recommendation to move the customer, "
    "and not a credit decision."
)


def show(
    settings: Settings,
    customer: dict[str, Any],
    scored: dict[str, Any],
    features: list[dict[str, Any]],
    segments: dict[str, Any],
) -> None:
    """The section: pick a target (and optionally the variables), then the answer."""
    st.header("Path to another segment")
    names = {int(s["id"]): str(s["name"]) for s in segments.get("segments") or []}
    own = int(scored["segment"]["id"])
    with st.form("path"):
        others = [sid for sid in names if sid != own] + [own]
        target = st.selectbox(
            "Target segment",
            others,
            format_func=lambda sid: names[sid] + (" (its own)" if sid == own else ""),
            key=TARGET_KEY,
        )
        may_change = st.multiselect(
            "Variables allowed to change (empty: the API's default)",
            [f["name"] for f in features if f.get("kind") != "months"],
            format_func=lambda name: ui.feature_labels(features).get(name, name),
            key=MAY_CHANGE_KEY,
            help="By default every behavioural variable but the tenure and the credit limit.",
        )
        asked = st.form_submit_button("Find a path", type="primary")
    if asked:
        _ask(settings, customer, int(target), may_change or None)
    answer = st.session_state.get(PATH_KEY)
    if answer is None:
        st.info("Pick a target segment and press **Find a path**.")
    elif isinstance(answer, api.ApiError):
        _refused(answer)
    else:
        _render(answer, features, segments.get("map") or {}, names)


def forget() -> None:
    """Drop the last path (a new customer was scored)."""
    st.session_state.pop(PATH_KEY, None)


def _ask(settings: Settings, customer: dict[str, Any], target: int, may_change: Any) -> None:
    try:
        with st.spinner("Looking for a path..."):
            st.session_state[PATH_KEY] = api.path(settings, customer, target, may_change)
    except api.ApiError as error:
        st.session_state[PATH_KEY] = error


def _refused(error: api.ApiError) -> None:
    if error.status != 422:
        st.error(f"Could not find a path. {error}", icon=":material/error:")
        return
    st.warning(f"No path. {error}", icon=":material/block:")
    for problem in error.errors:
        st.markdown(f"- **{problem.field}**: {problem.message}")


def _render(
    answer: dict[str, Any],
    features: list[dict[str, Any]],
    map_data: dict[str, Any],
    names: dict[int, str],
) -> None:
    check, changes = answer["check"], answer["changes"]
    st.markdown(
        f"From **{answer['from_segment']['name']}** to **{answer['target_segment']['name']}**"
    )
    one, two, three = st.columns(3)
    one.metric(
        "Check: the proposed customer",
        str(check["typicality"]["label"]).capitalize(),
        delta=f"in {check['segment']['name']}",
        delta_color="off",
        delta_arrow="off",
        help="The proposed customer scored again by the same model, as /v1/segment would.",
    )
    two.metric("Variables changed", f"{len(changes)} of {len(answer['may_change'])}")
    three.metric(
        "Cost",
        f"{answer['cost']:.2f}",
        help="Squared distance in the model's scaled space over the variables allowed to move.",
    )
    if not changes:
        st.success("Already in this segment: no change needed.", icon=":material/check:")
    else:
        st.markdown("**What would change** (in the data's units)")
        table = tables.path_changes(changes, features, ui.feature_labels(features))
        st.dataframe(table, hide_index=True, height=ROW_PIXELS * (len(table) + 1) + 3)
    st.markdown("**On the segment map** (◆ this customer, ▲ the proposed customer)")
    positions = answer["map_positions"]
    st.altair_chart(
        charts.path_map(map_data, names, positions["customer"], positions["proposed"]),
        width="stretch",
    )
    for flag in answer.get("flags") or []:
        st.info(f"This customer's own row breaks {flag['relation']}; the path keeps it no worse.")
    st.caption(NOT_A_FORECAST)
