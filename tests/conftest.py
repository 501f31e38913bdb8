"""Shared test configuration."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# The machines running the suite are shared and noisy: never fail a property on timing.
settings.register_profile(
    "minifw",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("minifw")
