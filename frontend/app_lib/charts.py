"""Altair charts, each built from plain API data so pages stay short."""

from __future__ import annotations

import math
from typing import Any, Final

import altair as alt
import pandas as pd

SEGMENT_COLOR_SCHEME: Final = "tableau10"
LABEL_AXIS = alt.Axis(labelLimit=260)  # full feature and segment names, not "One-off purch..."


def _segment_color(title: str = "Segment") -> alt.Color:
    return alt.Color("segment_name:N", title=title, scale=alt.Scale(scheme=SEGMENT_COLOR_SCHEME))


def credit_limit_band(credit_limit: dict[str, Any]) -> alt.LayerChart:
    """The look-alike benchmark (p25-p75 band, median tick) with the customer's limit marked."""
    bench = credit_limit["benchmark"]
    band = pd.DataFrame([{"row": "Benchmark", "p25": bench["p25"], "p75": bench["p75"]}])
    median = pd.DataFrame([{"row": "Benchmark", "value": bench["p50"], "what": "Median (p50)"}])
    y = alt.Y("row:N", title=None, axis=None)
    layers: list[alt.Chart] = [
        alt.Chart(band)
        .mark_bar(size=36, opacity=0.35, color="#4c78a8")
        .encode(
            x=alt.X("p25:Q", title="Credit limit"),
            x2="p75:Q",
            y=y,
            tooltip=[alt.Tooltip("p25:Q", format=",.0f"), alt.Tooltip("p75:Q", format=",.0f")],
        ),
        alt.Chart(median)
        .mark_tick(thickness=3, size=36, color="#4c78a8")
        .encode(x="value:Q", y=y, tooltip=["what:N", alt.Tooltip("value:Q", format=",.0f")]),
    ]
    customer_limit = credit_limit.get("customer_limit")
    if customer_limit is not None:
        mark = pd.DataFrame(
            [{"row": "Benchmark", "value": customer_limit, "what": "This customer"}]
        )
        layers.append(
            alt.Chart(mark)
            .mark_point(shape="diamond", size=260, filled=True, color="#e45756")
            .encode(x="value:Q", y=y, tooltip=["what:N", alt.Tooltip("value:Q", format=",.0f")])
        )
    return alt.LayerChart(layer=layers).properties(height=90)


def explanation_drivers(drivers: list[dict[str, Any]], labels: dict[str, str]) -> alt.Chart:
    """How much each feature pulls the customer toward the assigned segment."""
    frame = pd.DataFrame(drivers)
    frame["label"] = frame["feature"].map(lambda name: labels.get(name, name))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("contribution:Q", title="Contribution"),
            y=alt.Y("label:N", sort="-x", title=None, axis=LABEL_AXIS),
            color=alt.condition(
                alt.datum.contribution >= 0, alt.value("#4c78a8"), alt.value("#e45756")
            ),
            tooltip=[
                alt.Tooltip("label:N", title="Feature"),
                alt.Tooltip("value:Q", title="This customer", format=",.4~f"),
                alt.Tooltip("segment_median:Q", title="Segment median", format=",.4~f"),
                alt.Tooltip("contribution:Q", format=".3f"),
            ],
        )
        .properties(height=alt.Step(24))
    )


def segment_distances(distances: list[dict[str, Any]], names: dict[int, str]) -> alt.Chart:
    """Distance to every segment centre (shorter = more alike)."""
    frame = pd.DataFrame(distances)
    frame["segment_name"] = frame["segment"].map(lambda sid: names.get(int(sid), str(sid)))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("distance:Q", title="Distance to segment centre (model space)"),
            y=alt.Y("segment_name:N", sort="x", title=None, axis=LABEL_AXIS),
            color=_segment_color(),
            tooltip=["segment_name:N", alt.Tooltip("distance:Q", format=".3f")],
        )
        .properties(height=alt.Step(24))
    )


def segment_sizes(segments: list[dict[str, Any]]) -> alt.Chart:
    """Customers per segment."""
    frame = pd.DataFrame(
        [{"segment_name": s["name"], "size": s["size"], "share": s["share"]} for s in segments]
    )
    share = alt.Tooltip("share:Q", format=".1%")
    return _segment_bars(frame, "size", "Customers", ["segment_name:N", "size:Q", share])


def std_diff_heatmap(frame: pd.DataFrame) -> alt.Chart:
    """Standardized differences (segment vs population), diverging around zero.

    ``frame`` has columns ``feature`` (label), ``segment_name`` and ``std_diff``.
    """
    limit = max(1.0, float(frame["std_diff"].abs().max()))
    base = alt.Chart(frame).encode(
        x=alt.X(
            "segment_name:N", title=None, sort=None, axis=alt.Axis(labelAngle=0, labelLimit=260)
        ),
        y=alt.Y("feature:N", title=None, sort=None, axis=LABEL_AXIS),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "std_diff:Q",
            title="Std. difference",
            scale=alt.Scale(scheme="redblue", domain=[-limit, limit], reverse=True),
        ),
        tooltip=["segment_name:N", "feature:N", alt.Tooltip("std_diff:Q", format="+.2f")],
    )
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("std_diff:Q", format="+.1f"),
        color=alt.condition(
            f"abs(datum.std_diff) > {0.6 * limit}", alt.value("white"), alt.value("black")
        ),
    )
    return (cells + text).properties(height=alt.Step(22))


def segment_map(
    map_data: dict[str, Any],
    names: dict[int, str],
    customer: dict[str, float] | None = None,
) -> alt.LayerChart:
    """The 2-D PCA map: a sample of customers, the segment centres and, if given, one customer."""
    x, y = MAP_X, MAP_Y
    layers = _map_layers(map_data, names)
    if customer is not None:
        you = pd.DataFrame(
            [{"x": customer["x"], "y": customer["y"], "who": "Last scored customer"}]
        )
        layers.append(
            alt.Chart(you)
            .mark_point(shape="diamond", size=400, filled=True, color="black")
            .encode(x=x, y=y, tooltip=["who:N"])
        )
    return (
        alt.LayerChart(layer=layers).properties(width="container", height=MAP_HEIGHT).interactive()
    )


MAP_X = alt.X("x:Q", title="Map axis 1 (PCA)")
MAP_Y = alt.Y("y:Q", title="Map axis 2 (PCA)")


def _map_layers(map_data: dict[str, Any], names: dict[int, str]) -> list[alt.Chart]:
    """The segment map's sample of customers and its segment centres."""

    def named(points: list[dict[str, Any]]) -> pd.DataFrame:
        frame = pd.DataFrame(points, columns=["x", "y", "segment"])
        frame["segment_name"] = frame["segment"].map(lambda sid: names.get(int(sid), str(sid)))
        return frame

    return [
        alt.Chart(named(map_data.get("sample", [])))
        .mark_circle(size=18, opacity=0.45)
        .encode(x=MAP_X, y=MAP_Y, color=_segment_color(), tooltip=["segment_name:N"]),
        alt.Chart(named(map_data.get("centroids", [])))
        .mark_point(shape="cross", size=320, filled=True, stroke="black", strokeWidth=1)
        .encode(x=MAP_X, y=MAP_Y, color=_segment_color(), tooltip=["segment_name:N"]),
    ]


def path_map(
    map_data: dict[str, Any],
    names: dict[int, str],
    customer: dict[str, float],
    proposed: dict[str, float],
) -> alt.LayerChart:
    """The segment map with an arrow from the customer to the proposed customer of a path."""
    ends = pd.DataFrame(
        [
            {"x": customer["x"], "y": customer["y"], "who": "This customer"},
            {"x": proposed["x"], "y": proposed["y"], "who": "Proposed customer"},
        ]
    )
    line = pd.DataFrame(
        [{"x": customer["x"], "y": customer["y"], "x2": proposed["x"], "y2": proposed["y"]}]
    )
    arrow = [
        alt.Chart(line)
        .mark_rule(strokeWidth=3, color="black")
        .encode(x=MAP_X, y=MAP_Y, x2="x2:Q", y2="y2:Q"),
        alt.Chart(ends.iloc[[1]])
        .mark_point(shape="triangle", size=420, filled=True, color="black", opacity=1)
        .encode(
            x=MAP_X,
            y=MAP_Y,
            angle=alt.value(_heading(customer, proposed, map_data)),
            tooltip=["who:N"],
        ),
        alt.Chart(ends.iloc[[0]])
        .mark_point(shape="diamond", size=400, filled=True, color="black", opacity=1)
        .encode(x=MAP_X, y=MAP_Y, tooltip=["who:N"]),
    ]
    chart = alt.LayerChart(layer=[*_map_layers(map_data, names), *arrow])
    return chart.properties(width="container", height=MAP_HEIGHT).interactive()


MAP_HEIGHT = 480
_MAP_WIDTH = 900  # about what a wide page gives the map: only the arrowhead's angle uses it


def _heading(start: dict[str, float], end: dict[str, float], map_data: dict[str, Any]) -> float:
    """The arrowhead's angle on screen (degrees clockwise from up): the data direction
    stretched as the axes stretch the sample's spread into the chart's width and height."""
    points = map_data.get("sample") or [start, end]
    spread_x = (max(p["x"] for p in points) - min(p["x"] for p in points)) or 1.0
    spread_y = (max(p["y"] for p in points) - min(p["y"] for p in points)) or 1.0
    dx = (end["x"] - start["x"]) / spread_x * _MAP_WIDTH
    dy = (end["y"] - start["y"]) / spread_y * MAP_HEIGHT
    return math.degrees(math.atan2(dx, dy)) % 360.0


def elbow_curve(k_values: list[int], wcss: list[float], chosen_k: int) -> alt.LayerChart:
    """Within-cluster sum of squares per k, the chosen k marked."""
    frame = pd.DataFrame({"k": k_values, "wcss": wcss})
    line = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("k:Q", title="Number of segments (k)", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("wcss:Q", title="Within-cluster sum of squares"),
            tooltip=["k:Q", alt.Tooltip("wcss:Q", format=",.0f")],
        )
    )
    chosen = pd.DataFrame({"k": [chosen_k], "label": [f"chosen k = {chosen_k}"]})
    rule = alt.Chart(chosen).mark_rule(color="#e45756", strokeDash=[6, 4]).encode(x="k:Q")
    label = (
        alt.Chart(chosen)
        .mark_text(align="left", dx=6, dy=-120, color="#e45756")
        .encode(x="k:Q", text="label:N")
    )
    return (line + rule + label).properties(height=320)


def segment_counts(counts: pd.DataFrame) -> alt.Chart:
    """Scored rows per segment (``counts`` has ``segment_name`` and ``rows``)."""
    return _segment_bars(counts, "rows", "Rows", ["segment_name:N", "rows:Q"])


def _segment_bars(frame: pd.DataFrame, value: str, title: str, tooltip: list[Any]) -> alt.Chart:
    """One horizontal bar per segment (``frame`` has ``segment_name`` and ``value``)."""
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{value}:Q", title=title),
            y=alt.Y("segment_name:N", sort="-x", title=None, axis=LABEL_AXIS),
            color=alt.Color(
                "segment_name:N", legend=None, scale=alt.Scale(scheme=SEGMENT_COLOR_SCHEME)
            ),
            tooltip=tooltip,
        )
        .properties(height=alt.Step(28))
    )


def migration_heatmap(frame: pd.DataFrame) -> alt.Chart:
    """Customers per (from, to) segment pair, the count written in each cell.

    ``frame`` has columns ``from_segment``, ``to_segment`` (names, in display order) and
    ``customers``; the diagonal is who stayed, everything else moved.
    """
    base = alt.Chart(frame).encode(
        x=alt.X("to_segment:N", title="to", sort=None, axis=alt.Axis(labelAngle=0, labelLimit=260)),
        y=alt.Y("from_segment:N", title="from", sort=None, axis=LABEL_AXIS),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("customers:Q", title="Customers", scale=alt.Scale(scheme="blues")),
        tooltip=["from_segment:N", "to_segment:N", alt.Tooltip("customers:Q", format=",")],
    )
    top = float(frame["customers"].max()) if len(frame) else 0.0
    text = base.mark_text(fontSize=11).encode(
        text=alt.Text("customers:Q", format=","),
        color=alt.condition(
            f"datum.customers > {0.6 * top}", alt.value("white"), alt.value("black")
        ),
    )
    return (cells + text).properties(height=alt.Step(28))


WHEN = ["at training", "in this file"]


def segment_shares_now_vs_training(shares: list[dict[str, Any]]) -> alt.Chart:
    """Each segment's share of the file next to its share at training."""
    rows = []
    for segment in shares:
        for when, key in (("at training", "training"), ("in this file", "now")):
            rows.append({"segment_name": segment["name"], "when": when, "share": segment[key]})
    frame = pd.DataFrame(rows)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("share:Q", title="Share of customers", axis=alt.Axis(format="%")),
            y=alt.Y("segment_name:N", title=None, sort=None, axis=LABEL_AXIS),
            yOffset=alt.YOffset("when:N", sort=WHEN),
            color=alt.Color(
                "when:N", title=None, scale=alt.Scale(domain=WHEN, range=["#bab0ac", "#4c78a8"])
            ),
            tooltip=["segment_name:N", "when:N", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(height=alt.Step(18))
    )


def psi_per_feature(
    features: list[dict[str, Any]], labels: dict[str, str], watch: float, retrain: float
) -> alt.LayerChart:
    """Population stability index per feature, coloured by status, thresholds marked."""
    frame = pd.DataFrame(
        [
            {"feature": labels.get(f["name"], f["name"]), "psi": f["psi"], "status": f["status"]}
            for f in features
            if f.get("psi") is not None
        ]
    )
    bars = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("psi:Q", title="Population stability index (PSI)"),
            y=alt.Y("feature:N", sort="-x", title=None, axis=LABEL_AXIS),
            color=alt.Color(
                "status:N",
                title="Status",
                scale=alt.Scale(
                    domain=["stable", "watch", "retrain"], range=["#54a24b", "#f2a93b", "#e45756"]
                ),
            ),
            tooltip=["feature:N", alt.Tooltip("psi:Q", format=".3f"), "status:N"],
        )
    )
    marks = pd.DataFrame(
        [
            {"psi": watch, "label": f"watch {watch}"},
            {"psi": retrain, "label": f"retrain {retrain}"},
        ]
    )
    rules = (
        alt.Chart(marks)
        .mark_rule(strokeDash=[6, 4], color="#444")
        .encode(x="psi:Q", tooltip=["label:N"])
    )
    # The two labels sit on either side of their lines, so they never overlap.
    texts = [
        alt.Chart(marks.iloc[[0]])
        .mark_text(align="right", dx=-4, dy=-6, color="#444")
        .encode(x="psi:Q", y=alt.value(0), text="label:N"),
        alt.Chart(marks.iloc[[1]])
        .mark_text(align="left", dx=4, dy=-6, color="#444")
        .encode(x="psi:Q", y=alt.value(0), text="label:N"),
    ]
    return alt.LayerChart(layer=[bars, rules, *texts]).properties(height=alt.Step(22))
