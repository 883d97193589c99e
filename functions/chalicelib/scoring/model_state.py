"""What a container knows about its model: the version serving, the version ``current``
names, and why that one is not served, in a few public words.

The loader (:mod:`chalicelib.scoring.loader`) keeps this up to date as it checks the pointer;
``/v1/health`` reports it without asking S3. The reasons are public: they name no bucket key
and carry no exception text (the ``model load failed`` log line has the details).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chalicelib.errors import BundleIntegrityError, ModelUnavailable

NOT_YET_CHECKED: Final = "not yet checked"
"""``current`` names a version this container has not finished loading (a load is running)."""
FAILED_VERIFICATION: Final = "failed verification"
"""A file of the version does not match the sha256 in its manifest: refused, never served."""
FAILED_TO_LOAD: Final = "failed to load"
"""Anything else: a file or the manifest missing or unreadable, the model not buildable."""

REASONS: Final = (NOT_YET_CHECKED, FAILED_VERIFICATION, FAILED_TO_LOAD)
FAILURES: Final = frozenset({FAILED_VERIFICATION, FAILED_TO_LOAD})


def reason_for(error: ModelUnavailable) -> str:
    """The public reason a version that raised ``error`` while loading is not served."""
    return FAILED_VERIFICATION if isinstance(error, BundleIntegrityError) else FAILED_TO_LOAD


@dataclass(frozen=True)
class ModelState:
    """A snapshot of the loader's knowledge, taken without I/O.

    ``current`` is the version the pointer (or the pin) named when it was last read: None
    before any read. ``reason`` says why ``current`` is not the version serving; None when
    it is, or when nothing is known.
    """

    serving: str | None
    current: str | None = None
    reason: str | None = None

    @property
    def behind(self) -> bool:
        """``current`` names another version than the one serving."""
        return self.current is not None and self.current != self.serving

    @property
    def degraded(self) -> bool:
        """An older version serves because the current one failed: answers still come."""
        return self.serving is not None and self.behind and self.reason in FAILURES
