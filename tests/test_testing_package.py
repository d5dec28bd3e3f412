"""shmpipeline.testing: lazy re-exports, a light import."""

from __future__ import annotations

import subprocess
import sys

import shmpipeline.testing as testing


def test_import_is_light():
    """Importing the harness package pulls in neither pytest, Hypothesis,
    the runtime nor any harness submodule; names load on first use."""
    code = (
        "import sys\n"
        "import shmpipeline.testing as t\n"
        "heavy = [m for m in ('pytest', 'hypothesis', 'shmpipeline.manager',"
        " 'shmpipeline.testing.golden', 'shmpipeline.testing.fakes',"
        " 'shmpipeline.testing.scenario') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "t.save_golden\n"
        "assert 'shmpipeline.testing.golden' in sys.modules\n"
        "assert 'pytest' not in sys.modules and 'hypothesis' not in sys.modules\n"
        "t.build_fake\n"
        "assert 'pytest' not in sys.modules and 'hypothesis' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_every_exported_name_resolves_to_its_module():
    from shmpipeline.testing import fakes, golden

    assert testing.compare_captures is golden.compare_captures
    assert testing.Golden is golden.Golden
    assert testing.build_fake is fakes.build_fake
    assert testing.ClosedLoopOptics is fakes.ClosedLoopOptics
    for name in testing.__all__:
        assert getattr(testing, name) is not None, name
    assert set(testing.__all__) <= set(dir(testing))


def test_unknown_names_raise_attribute_error():
    try:
        testing.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
