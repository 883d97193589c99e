"""Entrypoint: page setup, the connection sidebar, navigation and the home page.

Run with ``streamlit run frontend/Home.py``. Nothing connects at import time: the API is
called only while a page runs, with the settings in force for that run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from app_lib import api, config, ui

# Not "pages/": a folder of that name next to the entrypoint switches Streamlit to its
# older directory-based navigation on some requests, bypassing st.navigation below
# (and with it the page config and the connection sidebar).
PAGES_DIR = Path(__file__).parent / "views"
APP_TITLE = "Card customer segments"


def home() -> None:
    """What the app is for, and whether the API is up."""
    st.title(APP_TITLE)
    st.markdown(
        "Find which behavioural segment a card holder belongs to, what that segment is "
        "like, what to offer it, and how the customer's credit limit compares with "
        "look-alike customers. Everything here comes from the scoring API."
    )
    settings = config.current()
    try:
        health = api.get_health(settings)
    except api.ApiError as error:
        ui.show_api_error(error, "reach the scoring API")
        st.stop()
    left, right, _ = st.columns(3)
    left.metric("API", str(health.get("status", "unknown")).upper())
    right.metric(
        "Score cache",
        str(health.get("cache", "-")),
        help="The API's cache of earlier answers (DynamoDB); scoring works without it.",
    )
    st.caption(f"Model in service: `{health.get('model_version', '-')}`.")
    warning = not_served_warning(health)
    if warning is not None:
        st.warning(warning, icon=":material/warning:")
    st.subheader("What you can do")
    one, two, three, four = st.columns(4)
    with one:
        st.page_link(
            PAGES_DIR / "01_Score.py", label="Score a customer", icon=":material/person_search:"
        )
        st.caption("Fill in one customer (or start from a typical member) and get a segment.")
    with two:
        st.page_link(
            PAGES_DIR / "02_Segments.py", label="Explore the segments", icon=":material/hub:"
        )
        st.caption("Sizes, profiles, rules, recommended actions and a map.")
    with three:
        st.page_link(
            PAGES_DIR / "03_Model.py", label="How the model was built", icon=":material/insights:"
        )
        st.caption("The elbow curve, the chosen number of segments and quality checks.")
    with four:
        st.page_link(
            PAGES_DIR / "04_Batch.py", label="Score a whole file", icon=":material/upload_file:"
        )
        st.caption("Upload a CSV with the data set's columns and download the results.")


def not_served_warning(health: dict[str, Any]) -> str | None:
    """What to tell the reader when the API serves another version than the current one
    (``current`` in ``/v1/health``: which version and why); None when it serves the current.

    The analyst cannot fix it, but should know which model the answers come from and whom to
    tell; the reason is the API's own words.
    """
    current = health.get("current")
    if not isinstance(current, dict):
        return None
    text = (
        f"The current model `{current.get('version', '?')}` is not in service "
        f"({current.get('reason', 'no reason given')}): answers come from "
        f"`{health.get('model_version', '-')}`."
    )
    if health.get("status") == "degraded":
        text += (
            " Tell whoever runs the service: roll the model back or publish it again "
            '(docs/deploy.md, "When a promotion fails").'
        )
    return text


def main() -> None:
    st.set_page_config(page_title=APP_TITLE, page_icon=":material/credit_card:", layout="wide")
    config.render_sidebar()
    with st.sidebar:
        if st.button("Reload model and segments", help="Forget the cached model description."):
            api.clear_cache()
    navigation = st.navigation(
        [
            st.Page(home, title="Home", icon=":material/home:", default=True),
            st.Page(
                PAGES_DIR / "01_Score.py",
                url_path="score",
                title="Score a customer",
                icon=":material/person_search:",
            ),
            st.Page(
                PAGES_DIR / "02_Segments.py",
                url_path="segments",
                title="Segments",
                icon=":material/hub:",
            ),
            st.Page(
                PAGES_DIR / "03_Model.py",
                url_path="model",
                title="Model",
                icon=":material/insights:",
            ),
            st.Page(
                PAGES_DIR / "04_Batch.py",
                url_path="batch",
                title="Batch scoring",
                icon=":material/upload_file:",
            ),
            st.Page(
                PAGES_DIR / "05_Monitoring.py",
                url_path="monitoring",
                title="Monitoring",
                icon=":material/monitoring:",
            ),
        ]
    )
    navigation.run()


if __name__ == "__main__":
    main()
