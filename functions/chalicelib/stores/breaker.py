"""A circuit breaker for the optional dependencies (result cache, history table).

An optional dependency (one whose failure degrades an answer but never fails it) that hangs
must not make every request wait out its timeouts. The breaker counts consecutive failures;
after ``failures`` of them it *opens* and callers skip the dependency at once (the cache
answers ``bypass``) for ``cool_down_seconds``. Then one caller is let through as a *probe*:
its success closes the breaker, its failure opens it for another cool-down.

Its three states are the words ``/v1/health`` reports for the dependency:

``ok``           closed: every call goes through.
``unavailable``  open: calls are skipped until the cool-down ends.
``recovering``   half-open: the cool-down is over; one probe call is (or may be) in flight,
                 every other caller still skips.

Use it around each call to the dependency, catching only the dependency's own errors (a
bug still raises)::

    breaker = CircuitBreaker("history", failures=3, cool_down_seconds=10)
    items = breaker.call(lambda: table.query(...), fallback=None, errors=AWS_ERRORS)
    if items is None:
        ...  # skipped or failed: degrade

or, where the outcome is not an exception, with :meth:`allow` then :meth:`succeeded` or
:meth:`failed`. The lock is held only to update a few fields, never across a call, so a
breaker is safe to share between threads and holds nothing across a Lambda freeze or a
SnapStart snapshot. The warm path in the ``ok`` state costs one attribute read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final, TypeVar

R = TypeVar("R")

OK: Final = "ok"
UNAVAILABLE: Final = "unavailable"
RECOVERING: Final = "recovering"
STATES: Final = (OK, UNAVAILABLE, RECOVERING)

Listener = Callable[[str, str, str], None]
"""Called as ``listener(name, old_state, new_state)`` on every change (logs, metrics)."""


class CircuitBreaker:
    """Skips a failing dependency for a cool-down, then lets one probe call through.

    Parameters
    ----------
    name:
        The dependency's name, passed to ``listener`` (``"cache"``, ``"history"``).
    failures:
        Consecutive failures that open the breaker (at least 1).
    cool_down_seconds:
        How long an open breaker skips calls before letting a probe through. A probe that
        never reports back (its caller died) is forgotten after another cool-down.
    clock:
        Monotonic seconds; injected by tests.
    listener:
        Told about every state change, outside the lock.
    """

    def __init__(
        self,
        name: str,
        failures: int = 3,
        cool_down_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        listener: Listener | None = None,
    ) -> None:
        if failures < 1:
            raise ValueError(f"failures must be at least 1, got {failures}")
        if cool_down_seconds < 0:
            raise ValueError(f"cool_down_seconds must not be negative, got {cool_down_seconds}")
        self.name = name
        self.failures = failures
        self.cool_down_seconds = cool_down_seconds
        self.clock = clock
        self.listener = listener
        self._state: str = OK
        self._failed = 0  # consecutive failures while closed
        self._opened_at = 0.0  # when the breaker last opened (or its probe was let through)
        self._probing = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``ok``, ``unavailable`` or ``recovering``; an ended cool-down reads ``recovering``."""
        state = self._state
        if state == UNAVAILABLE and self._cool_down_over():
            return RECOVERING
        return state

    def allow(self) -> bool:
        """May the caller use the dependency now? In ``recovering``, True for one caller."""
        if self._state == OK:  # the warm path: no lock
            return True
        with self._lock:
            if self._state == OK:
                return True
            if not self._cool_down_over():
                return False
            # The cool-down is over (or the last probe never reported): this caller probes.
            self._opened_at = self.clock()
            self._probing = True
            old, self._state = self._state, RECOVERING
        self._notify(old, RECOVERING)
        return True

    def succeeded(self) -> None:
        """The call worked: close the breaker (a probe's success ends the outage)."""
        if self._state == OK and not self._failed:
            return
        with self._lock:
            old, self._state, self._failed, self._probing = self._state, OK, 0, False
        self._notify(old, OK)

    def failed(self) -> None:
        """The call failed or timed out: count it; open after ``failures``, or a failed probe."""
        with self._lock:
            old = self._state
            self._failed += 1
            if old == OK and self._failed < self.failures:
                return
            self._state, self._opened_at, self._probing = UNAVAILABLE, self.clock(), False
        self._notify(old, UNAVAILABLE)

    def call(
        self,
        operation: Callable[[], R],
        fallback: R,
        errors: tuple[type[BaseException], ...],
    ) -> R:
        """``operation()``, or ``fallback`` when the breaker skips it or it raises ``errors``."""
        if not self.allow():
            return fallback
        try:
            result = operation()
        except errors:
            self.failed()
            return fallback
        self.succeeded()
        return result

    def _cool_down_over(self) -> bool:
        elapsed = self.clock() - self._opened_at
        # A clock that went backwards (a restored snapshot) must not hold the breaker open.
        return elapsed >= self.cool_down_seconds or elapsed < 0

    def _notify(self, old: str, new: str) -> None:
        if old != new and self.listener is not None:
            self.listener(self.name, old, new)
