"""The circuit breaker: opens after N failures, one probe after the cool-down, recovers."""

from __future__ import annotations

import threading

import pytest
from chalicelib.stores.breaker import OK, RECOVERING, UNAVAILABLE, CircuitBreaker


class Ticks:
    """Monotonic time under the test's control."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Flaky(Exception):
    """The dependency's own error (what ``call`` is told to catch)."""


def failing() -> str:
    raise Flaky("down")


@pytest.fixture
def clock() -> Ticks:
    return Ticks()


@pytest.fixture
def changes() -> list[tuple[str, str, str]]:
    return []


@pytest.fixture
def breaker(clock: Ticks, changes: list[tuple[str, str, str]]) -> CircuitBreaker:
    def listener(name: str, old: str, new: str) -> None:
        changes.append((name, old, new))

    return CircuitBreaker("cache", failures=3, cool_down_seconds=10, clock=clock, listener=listener)


def test_opens_after_the_configured_consecutive_failures(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.failed()
        assert breaker.state == OK and breaker.allow()
    breaker.failed()
    assert breaker.state == UNAVAILABLE
    assert not breaker.allow()


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    breaker.failed()
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state == OK


def test_one_probe_after_the_cool_down_then_closed_on_success(
    breaker: CircuitBreaker, clock: Ticks
) -> None:
    for _ in range(3):
        breaker.failed()
    clock.now += 9.9
    assert (breaker.state, breaker.allow()) == (UNAVAILABLE, False)
    clock.now += 0.1
    assert breaker.state == RECOVERING
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else still skips while it is out
    assert breaker.state == RECOVERING
    breaker.succeeded()
    assert breaker.state == OK
    assert all(breaker.allow() for _ in range(5))


def test_a_failed_probe_opens_for_another_cool_down(breaker: CircuitBreaker, clock: Ticks) -> None:
    for _ in range(3):
        breaker.failed()
    clock.now += 10
    assert breaker.allow()
    breaker.failed()  # one failure is enough while recovering
    assert breaker.state == UNAVAILABLE
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_probe_that_never_reports_is_replaced_after_a_cool_down(
    breaker: CircuitBreaker, clock: Ticks
) -> None:
    for _ in range(3):
        breaker.failed()
    clock.now += 10
    assert breaker.allow()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_only_one_of_many_concurrent_callers_probes(breaker: CircuitBreaker, clock: Ticks) -> None:
    for _ in range(3):
        breaker.failed()
    clock.now += 10
    start = threading.Barrier(8)
    allowed: list[bool] = []

    def caller() -> None:
        start.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(allowed) == [False] * 7 + [True]


def test_a_clock_that_went_backwards_does_not_hold_it_open(
    breaker: CircuitBreaker, clock: Ticks
) -> None:
    """After a SnapStart restore the monotonic clock may read less than before."""
    for _ in range(3):
        breaker.failed()
    clock.now -= 50
    assert breaker.state == RECOVERING
    assert breaker.allow()


def test_listener_hears_every_change_once(
    breaker: CircuitBreaker, clock: Ticks, changes: list[tuple[str, str, str]]
) -> None:
    for _ in range(3):
        breaker.failed()
    clock.now += 10
    breaker.allow()
    breaker.succeeded()
    breaker.succeeded()
    assert changes == [
        ("cache", OK, UNAVAILABLE),
        ("cache", UNAVAILABLE, RECOVERING),
        ("cache", RECOVERING, OK),
    ]


def test_call_returns_the_fallback_on_errors_and_skips_while_open(
    breaker: CircuitBreaker,
) -> None:
    calls: list[str] = []

    def operation() -> str:
        calls.append("called")
        raise Flaky("down")

    results = [breaker.call(operation, "fallback", (Flaky,)) for _ in range(5)]
    assert results == ["fallback"] * 5
    assert len(calls) == 3  # the last two were skipped: the breaker was open
    assert breaker.call(lambda: "fresh", "fallback", (Flaky,)) == "fallback"


def test_call_passes_results_through_and_recovers(breaker: CircuitBreaker, clock: Ticks) -> None:
    assert breaker.call(lambda: "value", "fallback", (Flaky,)) == "value"
    for _ in range(3):
        breaker.call(failing, "fallback", (Flaky,))
    clock.now += 10
    assert breaker.call(lambda: "value", "fallback", (Flaky,)) == "value"
    assert breaker.state == OK


def test_call_lets_other_errors_raise(breaker: CircuitBreaker) -> None:
    """Only the dependency's errors degrade; a bug still surfaces (and counts nothing)."""

    def buggy() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        breaker.call(buggy, "fallback", (Flaky,))
    assert breaker.state == OK


@pytest.mark.parametrize(
    ("failures", "cool_down", "message"),
    [(0, 10.0, "failures must be at least 1"), (3, -1.0, "cool_down_seconds must not")],
)
def test_rejects_settings_that_make_no_sense(failures: int, cool_down: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CircuitBreaker("cache", failures=failures, cool_down_seconds=cool_down)
