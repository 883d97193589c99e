"""Drift of scored files against the training distribution the bundle carries: the
statistics (``stats``: counts, PSI, migration) and the reports written beside the results
(``reports``)."""
