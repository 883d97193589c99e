"""Human names, descriptions and marketing actions for segments, by transparent rules.

Each rule is a readable condition on a profile's standardized differences (model space,
0 = population average, +1 = one standard deviation above). Rules are tried in order;
a segment takes the first rule that matches and whose name is still free, so names are
unique within a bundle. A segment no rule describes is named after its strongest trait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from training.schema import FEATURES_BY_NAME

StdDiff = dict[str, float]


@dataclass(frozen=True)
class NamingRule:
    """A named archetype: when it applies, what it is called, what marketing should do."""

    name: str
    condition: str  # the rule in words, recorded alongside the name
    applies: Callable[[StdDiff], bool]
    action: str


RULES: tuple[NamingRule, ...] = (
    NamingRule(
        "Cash-advance revolvers",
        "cash advance well above average and purchases below average",
        lambda d: d["CASH_ADVANCE"] > 0.5 and d["PURCHASES"] < 0,
        "Offer a lower-rate instalment loan or balance transfer to replace costly cash "
        "advances; watch for signs of financial stress.",
    ),
    NamingRule(
        "Big spenders",
        "purchases and one-off purchases far above average, high credit limit",
        lambda d: d["PURCHASES"] > 1.0 and d["ONEOFF_PURCHASES"] > 1.0 and d["CREDIT_LIMIT"] > 0.5,
        "Upgrade to a premium rewards card; offer travel and lifestyle partner benefits.",
    ),
    NamingRule(
        "Full-pay transactors",
        "pays the full balance far more often than average and buys regularly",
        lambda d: d["PRC_FULL_PAYMENT"] > 0.5 and d["PURCHASES"] > 0,
        "Grow spend with cashback and merchant offers; they rarely pay interest, so "
        "interest-rate offers will not move them.",
    ),
    NamingRule(
        "Instalment buyers",
        "instalment purchases well above average, one-off purchases not",
        lambda d: d["INSTALLMENTS_PURCHASES"] > 0.5 and d["ONEOFF_PURCHASES"] < 0.5,
        "Promote instalment plans and buy-now-pay-later offers with partner merchants.",
    ),
    NamingRule(
        "Active all-round purchasers",
        "buy often, both one-off and in instalments",
        lambda d: (
            d["PURCHASES_FREQUENCY"] > 0.5
            and d["ONEOFF_PURCHASES"] > 0.3
            and d["INSTALLMENTS_PURCHASES"] > 0.3
        ),
        "Reward loyalty with tiered points; cross-sell a second card or a credit-limit review.",
    ),
    NamingRule(
        "Low-balance light users",
        "balance well below average, modest purchases, no cash advance",
        lambda d: d["BALANCE"] < -0.5 and d["CASH_ADVANCE"] < 0 and d["PURCHASES"] >= -0.5,
        "Deepen engagement: spend-based rewards and an everyday-category cashback offer.",
    ),
    NamingRule(
        "Dormant cardholders",
        "purchases and cash advance both below average",
        lambda d: d["PURCHASES"] < -0.5 and d["CASH_ADVANCE"] < 0.3,
        "Run a reactivation campaign: a spend-and-get bonus for the first purchases.",
    ),
    NamingRule(
        "One-off shoppers",
        "one-off purchases above average, instalments not",
        lambda d: d["ONEOFF_PURCHASES"] > 0.5 and d["INSTALLMENTS_PURCHASES"] < 0.3,
        "Offer to split large purchases into instalments and target seasonal promotions.",
    ),
    NamingRule(
        "Balance revolvers",
        "balance well above average",
        lambda d: d["BALANCE"] > 0.5,
        "Offer a balance-transfer rate or a debt-consolidation plan.",
    ),
)

FALLBACK_ACTION = "Monitor; no targeted action until the segment's behaviour is clearer."


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def describe(profile: dict[str, Any]) -> str:
    """One or two plain sentences from the profile's medians and strongest traits."""
    medians = profile["medians"]
    traits = ", ".join(
        f"{FEATURES_BY_NAME[t['feature']].label.lower()} {t['direction']}"
        for t in profile["top_features"][:3]
    )
    full_pay = medians.get("PRC_FULL_PAYMENT")
    return (
        f"{profile['share']:.0%} of customers. Typical member: "
        f"balance {_money(medians['BALANCE'])}, "
        f"purchases {_money(medians['PURCHASES'])}, cash advance "
        f"{_money(medians['CASH_ADVANCE'])}, credit limit {_money(medians['CREDIT_LIMIT'])}, "
        f"pays in full {0.0 if full_pay is None else full_pay:.0%} of the time. "
        f"Stands out by: {traits}."
    )


def name_segments(profiles: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Return ``{"name", "description", "action", "naming_rule"}`` per profile, in order.

    Segments are named most distinctive first (largest |std_diff|), so a strong archetype
    claims its name before a weaker match does.
    """
    strength = {p["id"]: max(abs(t["std_diff"]) for t in p["top_features"]) for p in profiles}
    taken: set[str] = set()
    chosen: dict[int, dict[str, str]] = {}
    for profile in sorted(profiles, key=lambda p: -strength[p["id"]]):
        diff = profile["std_diff"]
        rule = next((r for r in RULES if r.name not in taken and r.applies(diff)), None)
        if rule is not None:
            name, action, why = rule.name, rule.action, rule.condition
        else:
            top = profile["top_features"][0]
            label = FEATURES_BY_NAME[top["feature"]].label
            name = f"{'High' if top['direction'] == 'high' else 'Low'} {label.lower()} customers"
            if name in taken:
                name = f"{name} ({profile['id']})"
            action, why = FALLBACK_ACTION, "no archetype rule matched; named after top feature"
        taken.add(name)
        chosen[profile["id"]] = {
            "name": name,
            "description": describe(profile),
            "action": action,
            "naming_rule": why,
        }
    return [chosen[p["id"]] for p in profiles]
