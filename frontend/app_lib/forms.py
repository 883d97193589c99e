"""The customer form, built entirely from the feature schema that ``GET /v1/model`` returns.

Nothing about the features is hard-coded here: labels, help texts, which fields may be
missing, defaults (training medians) and ranges all come from the API. The form does
not re-implement the API's validation either: it shows the valid and training ranges as
help, sends what was entered, and puts the API's field errors beside their fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

FIELD_KEY_PREFIX = "feature_"
CUSTOMER_ID_KEY = "feature_customer_id"
FORM_COLUMNS = 3


def field_key(name: str) -> str:
    """The session-state key of a feature's input widget."""
    return f"{FIELD_KEY_PREFIX}{name}"


def field_label(feature: Mapping[str, Any]) -> str:
    """Plain-words label; optional fields say so."""
    label = str(feature.get("label") or feature["name"])
    return f"{label} (optional)" if feature.get("optional") else label


def _number(value: float | None, feature: Mapping[str, Any]) -> str:
    if value is None:
        return "-"
    if feature.get("integer"):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if feature.get("kind") == "amount" else f"{value:.4g}"


def field_help(feature: Mapping[str, Any]) -> str:
    """The data dictionary's description plus the ranges that matter when typing a value."""
    lines = [str(feature.get("description") or "")]
    low, high = feature.get("valid_min"), feature.get("valid_max")
    if low is not None or high is not None:
        bounds = f"{_number(low, feature)} to {_number(high, feature) if high is not None else '∞'}"
        lines.append(f"Valid: {bounds}{', whole numbers' if feature.get('integer') else ''}.")
    t_low, t_high = feature.get("train_min"), feature.get("train_max")
    if t_low is not None and t_high is not None:
        lines.append(
            f"Seen in training: {_number(t_low, feature)} to {_number(t_high, feature)} "
            "(outside is scored and flagged)."
        )
    lines.append(f"Population median: {_number(feature.get('default'), feature)}.")
    if feature.get("optional"):
        lines.append("May be left empty: the API then uses the median.")
    return "  \n".join(line for line in lines if line)


def widget_value(feature: Mapping[str, Any], value: Any) -> int | float | None:
    """A value in the type the feature's input expects (int for whole-number fields)."""
    if value is None:
        return None
    number = float(value)
    return round(number) if feature.get("integer") else number


def _step(feature: Mapping[str, Any]) -> int | float:
    if feature.get("integer"):
        return 1
    return 10.0 if feature.get("kind") == "amount" else 0.01


def _format(feature: Mapping[str, Any]) -> str:
    if feature.get("integer"):
        return "%d"
    return "%.2f" if feature.get("kind") == "amount" else "%.4f"


def prefill(features: list[dict[str, Any]], values: Mapping[str, Any]) -> None:
    """Put ``values`` (e.g. a segment's example customer) into the form's inputs."""
    for feature in features:
        name = feature["name"]
        st.session_state[field_key(name)] = widget_value(feature, values.get(name))


def medians(features: list[dict[str, Any]]) -> dict[str, Any]:
    """The population medians, the form's starting values."""
    return {feature["name"]: feature.get("default") for feature in features}


def ensure_started(features: list[dict[str, Any]]) -> None:
    """Start every input at the median the first time the form is shown."""
    missing = [f for f in features if field_key(f["name"]) not in st.session_state]
    if missing:
        prefill(missing, medians(missing))


def render_inputs(features: list[dict[str, Any]]) -> dict[str, DeltaGenerator]:
    """One number input per feature, in a grid; returns a placeholder under each for errors."""
    ensure_started(features)
    error_slots: dict[str, DeltaGenerator] = {}
    columns = st.columns(FORM_COLUMNS)
    for position, feature in enumerate(features):
        with columns[position % FORM_COLUMNS]:
            st.number_input(
                field_label(feature),
                key=field_key(feature["name"]),
                value=None,
                step=_step(feature),
                format=_format(feature),
                help=field_help(feature),
                placeholder="empty: use the median" if feature.get("optional") else "required",
            )
            error_slots[feature["name"]] = st.empty()
    return error_slots


def collect_customer(features: list[dict[str, Any]], customer_id: str = "") -> dict[str, Any]:
    """The request body from the inputs; empty inputs are sent as null (the API decides)."""
    body: dict[str, Any] = {
        feature["name"]: st.session_state.get(field_key(feature["name"])) for feature in features
    }
    if customer_id.strip():
        body["CUST_ID"] = customer_id.strip()
    return body


def show_field_errors(
    error_slots: Mapping[str, DeltaGenerator], errors_by_field: Mapping[str, list[str]]
) -> list[str]:
    """Write each field's errors under its input; return the errors no input owns."""
    unplaced: list[str] = []
    for name, messages in errors_by_field.items():
        slot = error_slots.get(name)
        if slot is None:
            unplaced.extend(f"{name}: {message}" if name else message for message in messages)
        else:
            slot.error("; ".join(messages), icon=":material/warning:")
    return unplaced
