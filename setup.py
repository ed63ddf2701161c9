"""Kept for tools and users that call setup.py directly; configuration lives in pyproject.toml.

The one thing done here: the C runtime (runtime/ml4f.h, ml4f.c) goes into the installed
package as ml4f/runtime/, for `ml4f compile --arduino-library`."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithRuntime(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "ml4f", "runtime")
        os.makedirs(target, exist_ok=True)
        for name in ("ml4f.h", "ml4f.c"):
            shutil.copyfile(os.path.join(HERE, "runtime", name), os.path.join(target, name))


setup(cmdclass={"build_py": BuildWithRuntime})
