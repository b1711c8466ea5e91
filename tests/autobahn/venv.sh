#!/usr/bin/env bash
# target/autobahn-venv: Python 2.7 with exactly the pinned packages of
# tests/autobahn/requirements.txt, which the Autobahn suite (run.sh) runs in.
#
#   bash tests/autobahn/venv.sh
#
# Run by tests/setup.sh (`make setup`) and by run.sh. The venv is current when
# it holds a copy of the requirements it was made from; then this does nothing.
# Otherwise it is made again from scratch. Python 2.7 comes from pyenv
# (~/.pyenv/versions/2.7.18) unless PYTHON2 names another interpreter; the
# packages come from PyPI.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

venv=target/autobahn-venv

die() {
    echo "autobahn: $*" >&2
    exit 1
}

find_python2() {
    if [[ -n ${PYTHON2:-} ]]; then
        echo "$PYTHON2"
    elif [[ -x $HOME/.pyenv/versions/2.7.18/bin/python2.7 ]]; then
        echo "$HOME/.pyenv/versions/2.7.18/bin/python2.7"
    elif command -v python2.7 > /dev/null; then
        command -v python2.7
    else
        # Debian no longer packages Python 2.7, so there is nothing apt-get can
        # do here: pyenv builds it.
        die "Python 2.7 not found: install it with \`pyenv install 2.7.18\` (https://github.com/pyenv/pyenv), or set PYTHON2"
    fi
}

cmp -s "$here/requirements.txt" "$venv/requirements.txt" 2> /dev/null && exit 0

python2=$(find_python2)
echo "autobahn: creating $venv with $python2"
rm -rf "$venv"
mkdir -p target
boot=$(mktemp -d target/autobahn-boot.XXXXXX)
export PYTHONWARNINGS=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1
# virtualenv 16 is the one-file version that runs on Python 2.7 and brings
# its own pip 20.3.4, setuptools 44.1.1 and wheel 0.36.2 (--no-download).
"$python2" -m pip install -q --target "$boot" virtualenv==16.7.12
PYTHONPATH="$boot" "$python2" -m virtualenv -q --no-download "$venv"
rm -rf "$boot"
# Exactly the pinned set: --no-deps, and pip check proves it is complete.
# No build isolation: the sdists build with the venv's own setuptools.
"$venv/bin/pip" install -q --no-deps --no-build-isolation -r "$here/requirements.txt"
"$venv/bin/pip" check > /dev/null || { "$venv/bin/pip" check >&2; die "incomplete requirements.txt"; }
# Written last: a run that failed half-way leaves no copy, so the next run
# starts again from scratch.
cp "$here/requirements.txt" "$venv/requirements.txt"
