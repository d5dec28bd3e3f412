"""The suite's Hypothesis profile (tests/conftest.py) asserts no timings: no
per-example deadline, no too-slow health check, also under @settings that
set other fields."""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def test_the_profile_has_no_deadline():
    assert settings.default.deadline is None
    assert HealthCheck.too_slow in settings.default.suppress_health_check


def test_explicit_settings_inherit_it():
    explicit = settings(max_examples=3)
    assert explicit.deadline is None
    assert HealthCheck.too_slow in explicit.suppress_health_check
