"""Test-suite wiring.

The per-test shared-memory namespace (unique per xdist worker and test,
inherited by spawned workers) and the guard failing any test that leaves a
segment behind come from shmpipeline's own pytest plugin
(``shmpipeline.testing.plugin``, autouse fixture ``shmpipeline_namespace``),
loaded through its ``pytest11`` entry point, so downstream projects get the
same guard. ``shm_namespace`` is the short name our tests use for it.

Hypothesis runs without its per-example deadline and too-slow health check:
both are timing assertions, and they fail at random on a loaded machine.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "shmpipeline-tests",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("shmpipeline-tests")


@pytest.fixture
def shm_namespace(shmpipeline_namespace: str) -> str:
    """The namespace of the current test (see ``shmpipeline_namespace``)."""
    return shmpipeline_namespace
