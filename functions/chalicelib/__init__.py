"""Scoring service internals: each module has one job; app.py only wires routes to them."""
