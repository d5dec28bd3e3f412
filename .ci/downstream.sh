#!/usr/bin/env bash
# Install the worked downstream project (examples/downstream_project) into the
# venv of PYTHON, which must already hold shmpipeline[test], and run its own
# tests from its own directory, as a downstream user would.
#
#   .ci/downstream.sh /path/to/venv/bin/python [extra pytest args...]
set -euo pipefail

python=${1:?usage: .ci/downstream.sh PYTHON [pytest args...]}
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
project="$here/examples/downstream_project"

"$python" -c "import shmpipeline, pytest, hypothesis" || {
    echo "downstream.sh: $python lacks shmpipeline[test]" >&2
    exit 2
}

# a copy, so the build leaves nothing in the checkout
work=$(mktemp -d "${TMPDIR:-/tmp}/shmpipeline-downstream.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -R "$project/." "$work/"
# non-editable, and without touching the installed shmpipeline
# (without build isolation only where the venv can build wheels itself)
if "$python" -c "import setuptools, wheel" 2>/dev/null; then
    "$python" -m pip install --quiet --no-deps --no-build-isolation "$work"
else
    "$python" -m pip install --quiet --no-deps "$work"
fi

cd "$work"
# the installed acme_ao, not the copy's sources: src/ is not on sys.path
"$python" -c "import acme_ao, sys; assert 'site-packages' in acme_ao.__file__, acme_ao.__file__"
"$python" -m pytest -q -p no:cacheprovider -n 2 "$@" tests
"$python" -m pytest -q -p no:cacheprovider -n 0 --scenario gain_loop
