"""Wheel packaging. The toolkit's data files live at the top of the checkout (hook/, templates/,
matrix.yaml, ...), where the toolkit reads them from a checkout; a wheel has no checkout, so
build_py copies them into the wheel as the package data kea_runscript/data/, which
kea_runscript.ROOT finds through importlib.resources. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: Shipped in the wheel (what list, render, build, smoke, image and release read).
DATA = ("hook", "templates", "examples", "keys", "matrix.yaml", "install.sh", "LICENSE", "README.md")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.o", "*.so")


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        dest = Path(self.build_lib) / "kea_runscript" / "data"
        for name in DATA:
            src = HERE / name
            if not src.exists():
                raise FileNotFoundError(f"{src} is missing: the wheel needs it (build from a checkout or the sdist)")
            if src.is_dir():
                shutil.copytree(src, dest / name, ignore=IGNORE, dirs_exist_ok=True)
            else:
                dest.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest / name)


setup(cmdclass={"build_py": build_py_with_data})
