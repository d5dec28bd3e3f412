"""The package ships its PEP 561 marker, so type checkers read its hints."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_py_typed_marker_exists_and_is_package_data():
    assert (ROOT / "shmpipeline" / "py.typed").is_file()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["shmpipeline"]


@pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None, reason="needs setuptools"
)
def test_a_build_ships_py_typed(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "shmpipeline" / "py.typed").is_file()
    assert (tmp_path / "shmpipeline" / "stream" / "_segment.py").is_file()
