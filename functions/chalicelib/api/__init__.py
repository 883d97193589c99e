"""The HTTP API's own concerns: the middleware (API key, body limits, problem+json), request
parsing and the bodies of the read-only routes (catalog, health, reports). ``app.py``'s routes
call into here and into ``scoring``; nothing below imports this package."""
