"""Build hook: ship the example scenarios and pipelines inside the package.

The checkout keeps them at the top level (``scenarios/``, ``examples/``),
where the README's commands use them; a built wheel carries copies under
``shmpipeline/examples/scenarios`` and ``shmpipeline/examples/pipelines``
(see :mod:`shmpipeline.testing.examples`). Metadata is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: checkout directory -> directory under shmpipeline/examples in the wheel
SHIPPED = {"scenarios": "scenarios", "examples": "pipelines"}
#: never shipped: scratch files and the downstream project (copied from the
#: repository, not installed)
IGNORED = shutil.ignore_patterns(
    "*.obtained.npz", "__pycache__", "*.pyc", "downstream_project", ".*"
)


class BuildWithExamples(build_py):
    """``build_py`` plus the example trees copied into the built package."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "shmpipeline" / "examples"
        for source, name in SHIPPED.items():
            tree = HERE / source
            if tree.is_dir():
                destination = target / name
                if destination.exists():
                    shutil.rmtree(destination)
                shutil.copytree(tree, destination, ignore=IGNORED)


setup(cmdclass={"build_py": BuildWithExamples})
