"""The contracts every part shares, written once: standard library only, cheap to import.

``row`` is the customer-row contract (columns, cell syntax, value rules and their wording,
header checks, the results-file columns, spreadsheet-safe CSV output); ``feature`` the one
type of a model input (the row's columns untrained, the manifest's features trained);
``bundle`` the typed ``manifest.json`` (with its report sections in ``training_report``);
``codec`` the one reader and writer of their JSON. The Lambda package carries this package
with ``chalicelib``; training imports the very same files as ``chalicelib.contract``
(pyproject.toml maps the ``chalicelib`` package to ``functions/chalicelib``). Modules here
import only the standard library and each other (relatively), never the rest of
``chalicelib`` and never ``training``.
"""
