"""Build hook: ship the example scenarios and pipelines inside the package.

The checkout keeps them at the top level (``scenarios/``, ``examples/``,
``docs/DOWNSTREAM.md``), where the README's commands use them; a built wheel
carries copies under ``shmpipeline/examples/`` (``scenarios``, ``pipelines``,
``downstream_project`` and the ``DOWNSTREAM.md`` guide; see
:mod:`shmpipeline.testing.examples`). Metadata is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: checkout path -> path under shmpipeline/examples in the wheel
SHIPPED = {
    "scenarios": "scenarios",
    "examples": "pipelines",
    "examples/downstream_project": "downstream_project",
    "docs/DOWNSTREAM.md": "DOWNSTREAM.md",
}
#: never shipped: scratch and build files (and the downstream project inside
#: the pipelines tree: it ships as its own tree)
IGNORED = shutil.ignore_patterns(
    "*.obtained.npz",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    "build",
    "dist",
    ".*",
)


class BuildWithExamples(build_py):
    """``build_py`` plus the example trees copied into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "shmpipeline" / "examples"
        target.mkdir(parents=True, exist_ok=True)
        for source, name in SHIPPED.items():
            origin = HERE / source
            destination = target / name
            if origin.is_file():
                shutil.copyfile(origin, destination)
            elif origin.is_dir():
                if destination.exists():
                    shutil.rmtree(destination)
                ignore = IGNORED
                if source == "examples":
                    ignore = shutil.ignore_patterns(
                        "downstream_project", "*.egg-info", "__pycache__", ".*"
                    )
                shutil.copytree(origin, destination, ignore=ignore)


setup(cmdclass={"build_py": BuildWithExamples})
