"""Score one customer: a form from the model's feature schema, the answer as a card."""

from __future__ import annotations

from typing import Any

import streamlit as st
from app_lib import api, charts, config, forms, path_view, ui

MEDIANS_CHOICE = "Population medians"
EXAMPLE_PREFIX = "Typical member of: "
PREFILL_KEY = "prefill_choice"
LAST_CUSTOMER_KEY = "last_customer"  # what was scored: the path section starts from it


def _apply_prefill(features: list[dict[str, Any]], segments: list[dict[str, Any]]) -> None:
    """Callback: load the chosen starting point into the form's inputs."""
    choice = st.session_state.get(PREFILL_KEY, MEDIANS_CHOICE)
    examples = {EXAMPLE_PREFIX + s["name"]: s.get("example") or {} for s in segments}
    if choice in examples:
        forms.prefill(features, examples[choice])
        st.session_state[forms.CUSTOMER_ID_KEY] = ""
    else:
        forms.prefill(features, forms.medians(features))


def _prefill_picker(features: list[dict[str, Any]], segments: list[dict[str, Any]]) -> None:
    options = [MEDIANS_CHOICE] + [EXAMPLE_PREFIX + s["name"] for s in segments if s.get("example")]
    st.selectbox(
        "Start from",
        options,
        key=PREFILL_KEY,
        on_change=_apply_prefill,
        args=(features, segments),
        help="Fill the form with the population medians or with a real, typical member "
        "of a segment; then change any value.",
    )


def _typicality(typicality: dict[str, Any]) -> None:
    label = str(typicality.get("label", "-")).capitalize()
    score = typicality.get("score")
    st.metric(
        "Typicality",
        label,
        delta=f"score {score:.0f}/100" if score is not None else None,
        delta_color="off",
        delta_arrow="off",
        help="How close the customer is to the centre of the segment, compared with its "
        "members: 100 = as central as the most typical member.",
    )


def _credit_limit_metric(limit: dict[str, Any]) -> None:
    customer_limit = limit.get("customer_limit")
    st.metric(
        "Credit limit vs look-alikes",
        str(limit.get("position", "unknown")).capitalize(),
        delta=str(limit.get("suggestion", "none")),
        delta_color="off",
        delta_arrow="off",
        help="Where the customer's limit lies against the p25-p75 band of similar customers"
        + (f" (customer limit {customer_limit:,.0f})." if customer_limit is not None else "."),
    )


def render_result(result: dict[str, Any], labels: dict[str, str], names: dict[int, str]) -> None:
    """The answer as a card: segment, action, limit benchmark, typicality, explanation."""
    segment, limit = result["segment"], result["credit_limit"]
    with st.container(border=True):
        st.subheader(f"Segment: {segment['name']}")
        st.write(segment.get("description", ""))
        st.success(
            f"**Recommended action:** {segment.get('action', '-')}", icon=":material/lightbulb:"
        )
        one, two, three = st.columns(3)
        with one:
            _typicality(result.get("typicality", {}))
        with two:
            _credit_limit_metric(limit)
        three.metric(
            "Answer from cache",
            {"hit": "Yes", "miss": "No", "bypass": "Bypassed"}.get(str(result.get("cache")), "-"),
            help="Whether the API answered from its cache of earlier identical requests "
            f"(reported: {result.get('cache')}).",
        )
        st.caption(f"Model version `{result.get('model_version', '-')}`.")
        left, right = st.columns(2)
        with left:
            st.markdown("**Credit-limit benchmark** (p25-p75 band, median, ◆ this customer)")
            st.altair_chart(charts.credit_limit_band(limit), width="stretch")
            st.caption(
                f"{limit.get('note', '')} Model: {limit.get('model', '-')} "
                f"(median {limit['benchmark']['p50']:,.0f})."
            )
        with right:
            explanation = result.get("explanation", {})
            st.markdown("**Why this segment**: the features that weigh most")
            if explanation.get("drivers"):
                st.altair_chart(
                    charts.explanation_drivers(explanation["drivers"], labels), width="stretch"
                )
            runner_up = explanation.get("runner_up")
            if runner_up is not None:
                st.caption(
                    f"Next closest segment: {names.get(int(runner_up), runner_up)} "
                    f"(margin {explanation.get('margin', 0):.2f})."
                )
        if explanation.get("distances"):
            with st.expander("Distance to every segment"):
                st.altair_chart(
                    charts.segment_distances(explanation["distances"], names), width="stretch"
                )
        if result.get("imputed"):
            imputed = ", ".join(labels.get(name, name) for name in result["imputed"])
            st.info(f"Filled in with the population median: {imputed}.", icon=":material/info:")
        for flag in result.get("flags") or []:
            st.warning(f"{labels.get(flag['field'], flag['field'])}: {flag['message']}")


def main() -> None:
    st.title("Score a customer")
    settings = config.current()
    model = ui.model_or_stop(settings)
    features: list[dict[str, Any]] = model.get("features") or []
    if not features:
        st.warning("The API's model description lists no features.")
        st.stop()
    try:
        catalogue: dict[str, Any] = api.get_segments(settings)
    except api.ApiError as error:
        st.warning(f"Segment examples unavailable: {error}")
        catalogue = {}
    segments: list[dict[str, Any]] = catalogue.get("segments") or []
    labels, names = ui.feature_labels(features), ui.segment_names(segments)

    _prefill_picker(features, segments)
    with st.form("customer"):
        customer_id = st.text_input(
            "Customer id (optional)", key=forms.CUSTOMER_ID_KEY, help="Echoed back; not scored."
        )
        error_slots = forms.render_inputs(features)
        submitted = st.form_submit_button("Score this customer", type="primary")

    if submitted:
        customer = forms.collect_customer(features, customer_id)
        path_view.forget()
        try:
            with st.spinner("Scoring..."):
                result = api.score(settings, customer)
        except api.ApiError as error:
            st.session_state.pop(ui.LAST_SCORE_KEY, None)
            leftovers = forms.show_field_errors(error_slots, error.errors_by_field())
            hint = "  \nEach problem is shown under its field above." if error.errors else ""
            st.error(f"Not scored. {error}.{hint}", icon=":material/error:")
            for message in leftovers:
                st.error(message)
            st.stop()
        st.session_state[ui.LAST_SCORE_KEY] = result
        st.session_state[LAST_CUSTOMER_KEY] = customer
    last = st.session_state.get(ui.LAST_SCORE_KEY)
    if last is None:
        st.info("Fill in the form and press **Score this customer**.")
        st.stop()
    render_result(last, labels, names)
    scored_customer = st.session_state.get(LAST_CUSTOMER_KEY)
    if scored_customer is not None and segments:
        path_view.show(settings, scored_customer, last, features, catalogue)


if __name__ == "__main__":
    main()
