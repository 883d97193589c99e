"""The scoring API tests' ``bundle`` fixture (the session's real trained bundle, as a path
and the labels training gave the 8,950 rows), shared with the batch-function tests."""

from tests.functions.conftest import bundle  # noqa: F401
