"""The hand-written convex solver against scipy's SLSQP on random problems of the
solver's shape: weighted distance, a box (with pinned coordinates), one- and two-sided
linear rows, a ball."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from chalicelib.paths.convex import Problems, solve
from scipy.optimize import minimize

N, n, m = 40, 17, 6


def _problems(seed: int) -> Problems:
    rng = np.random.default_rng(seed)
    y0 = rng.normal(0, 1.5, (N, n))
    lo, hi = np.full((N, n), -3.0), np.full((N, n), 3.0)
    pin = rng.random((N, n)) < 0.15
    lo[pin] = hi[pin] = np.clip(y0[pin], -3, 3)
    hi[:, 5] = np.inf
    A = rng.normal(0, 1, (N, m, n))
    A /= np.linalg.norm(A, axis=2, keepdims=True)
    c = rng.normal(0, 1, (N, n))
    bu = np.einsum("nmj,nj->nm", A, c) + rng.uniform(-0.5, 1.0, (N, m))
    A[:, -1], bu[:, -1] = 0.0, 1.0  # an inactive placeholder row
    bl = np.full((N, m), -np.inf)
    two = rng.random(N) < 0.6
    bl[two, 0] = bu[two, 0] - rng.uniform(0.0, 0.5, two.sum())
    return Problems(
        y0=y0,
        w=rng.uniform(0.2, 3, (N, n)),
        lo=lo,
        hi=hi,
        A=A,
        bl=bl,
        bu=bu,
        cap=np.full((N, m), np.inf),
        c=c,
        r2=rng.uniform(2, 12, N),
        ball=np.ones((N, n)),
    )


def _scipy(p: Problems, i: int) -> float | None:
    """SLSQP's best objective from two starts (None: no feasible answer found)."""
    finite = np.isfinite(p.bl[i])
    constraints: list[dict[str, Any]] = [
        {"type": "ineq", "fun": lambda y: p.bu[i] - p.A[i] @ y, "jac": lambda y: -p.A[i]},
        {
            "type": "ineq",
            "fun": lambda y: p.r2[i] - ((y - p.c[i]) ** 2).sum(),
            "jac": lambda y: -2 * (y - p.c[i]),
        },
    ]
    if finite.any():
        constraints.append(
            {
                "type": "ineq",
                "fun": lambda y: p.A[i][finite] @ y - p.bl[i][finite],
                "jac": lambda y: p.A[i][finite],
            }
        )
    bounds = list(zip(p.lo[i], np.where(np.isinf(p.hi[i]), None, p.hi[i]), strict=True))
    best = None
    for start in (p.c[i], p.y0[i]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = minimize(
                lambda y: (p.w[i] * (y - p.y0[i]) ** 2).sum(),
                np.clip(start, p.lo[i], p.hi[i]),
                jac=lambda y: 2 * p.w[i] * (y - p.y0[i]),
                bounds=bounds,
                constraints=constraints,
                method="SLSQP",
                options={"ftol": 1e-12, "maxiter": 300},
            )
        if all((c["fun"](got.x) >= -1e-7).all() for c in constraints):
            best = got.fun if best is None else min(best, got.fun)
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_answers_match_scipy(seed: int) -> None:
    p = _problems(seed)
    got = solve(p)
    for i in range(N):
        reference = _scipy(p, i)
        assert got.feasible[i] == (reference is not None), i
        if reference is not None:
            assert got.objective[i] == pytest.approx(reference, rel=1e-6, abs=1e-9), i
            y = got.y[i]
            assert (y >= p.lo[i]).all() and (y <= p.hi[i]).all()
            assert ((y - p.c[i]) ** 2).sum() <= p.r2[i] + 1e-7


def test_a_soft_row_is_an_exact_penalty() -> None:
    """With its multiplier capped, a row that cannot hold costs cap * violation."""
    y0 = np.zeros((1, 2))
    A = np.array([[[1.0, 0.0]]])
    p = Problems(
        y0=y0,
        w=np.ones((1, 2)),
        lo=np.full((1, 2), -10.0),
        hi=np.full((1, 2), 10.0),
        A=A,
        bl=np.array([[2.0]]),
        bu=np.array([[3.0]]),
        cap=np.array([[1.0]]),
        c=np.zeros((1, 2)),
        r2=np.array([100.0]),
        ball=np.ones((1, 2)),
    )
    got = solve(p)
    # minimise y1^2 + 1 * max(0, 2 - y1): the penalty's slope 1 stops y1 at 0.5
    assert got.feasible[0]
    assert got.y[0] == pytest.approx([0.5, 0.0], abs=1e-9)


def test_an_empty_set_is_reported_infeasible() -> None:
    p = _problems(3)
    far = Problems(**{**p.__dict__, "r2": np.full(N, 1e-6), "c": np.full((N, n), 50.0)})
    assert not solve(far).feasible.any()
