"""Shared test configuration."""

from __future__ import annotations

from hypothesis import settings

# The machines running the suite are shared and noisy: never fail a property on timing.
settings.register_profile("minifw", deadline=None, print_blob=True)
settings.load_profile("minifw")
