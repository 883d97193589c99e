"""Small page helpers: load what a page needs or stop it with a readable message."""

from __future__ import annotations

from typing import Any

import streamlit as st

from app_lib import api
from app_lib.config import Settings

LAST_SCORE_KEY = "last_score"


def show_api_error(error: api.ApiError, doing: str) -> None:
    """One clear message (plus field errors, if any) instead of a stack trace."""
    st.error(f"Could not {doing}. {error}", icon=":material/error:")
    if error.errors:
        st.dataframe(
            [{"field": e.field or "(request)", "problem": e.message} for e in error.errors],
            hide_index=True,
        )


def model_or_stop(settings: Settings) -> dict[str, Any]:
    """``GET /v1/model`` or an error message and the end of this run."""
    try:
        return api.get_model(settings)
    except api.ApiError as error:
        show_api_error(error, "load the model description")
        st.stop()
        raise  # unreachable: st.stop() ends the run; keeps type checkers honest


def segments_or_stop(settings: Settings) -> dict[str, Any]:
    """``GET /v1/segments`` or an error message and the end of this run."""
    try:
        return api.get_segments(settings)
    except api.ApiError as error:
        show_api_error(error, "load the segments")
        st.stop()
        raise


def segment_names(segments: list[dict[str, Any]]) -> dict[int, str]:
    """Segment id -> name."""
    return {int(segment["id"]): str(segment["name"]) for segment in segments}


def feature_labels(features: list[dict[str, Any]]) -> dict[str, str]:
    """Column name -> plain-words label."""
    return {feature["name"]: str(feature.get("label") or feature["name"]) for feature in features}
