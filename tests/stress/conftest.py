"""Stress results, printed as one table at the end of the run (see tests/conftest.py)."""

from __future__ import annotations

from tests.results import record  # noqa: F401  (re-exported for the stress tests)
