"""Toolkit that renders, builds, smoke-tests and releases kea-hook-runscript."""

from importlib import resources
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_root() -> Path:
    # A checkout (or an unpacked sdist): hook/, templates/, matrix.yaml... beside the package.
    if (_PACKAGE.parent / "matrix.yaml").is_file() and (_PACKAGE.parent / "hook").is_dir():
        return _PACKAGE.parent
    # An installed wheel: the same files, shipped as package data (setup.py copies them).
    return Path(str(resources.files(__name__) / "data"))


#: Where the toolkit's data files (hook/, templates/, matrix.yaml, keys/, ...) are: the source
#: checkout, or kea_runscript/data/ of an installed wheel.
ROOT = _data_root()
#: Where build/ and dist/ go: the checkout, or the current directory for an installed toolkit.
WORK = ROOT if ROOT == _PACKAGE.parent else Path.cwd()

#: Version of the hook itself (not of Kea).
PACKAGE = "kea-hook-runscript"
HOOK_VERSION = "2.0.0"
