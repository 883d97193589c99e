"""Fixtures shared with the scoring API's tests: the real trained bundle, as path + labels."""

from tests.functions.conftest import bundle, trained_bundle  # noqa: F401
