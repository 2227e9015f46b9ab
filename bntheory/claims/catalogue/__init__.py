"""Catalogue modules: each defines ``CLAIMS`` (and optionally ``ORDER``); see
:mod:`bntheory.claims.registry`."""
