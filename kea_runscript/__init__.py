"""Toolkit that renders, builds, smoke-tests and releases kea-hook-runscript."""

from pathlib import Path

#: Root of the source checkout: data files (hook/, templates/, matrix.yaml) live here.
ROOT = Path(__file__).resolve().parent.parent

#: Version of the hook itself (not of Kea).
HOOK_VERSION = "2.0.0"
