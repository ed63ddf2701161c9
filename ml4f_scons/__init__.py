"""SCons Tool for ml4f: Keras models become linkable objects during the build.

Plain SCons::

    import ml4f_scons
    env = Environment(tools=["default", "ml4f_scons"], toolpath=[ml4f_scons.TOOLPATH])
    env.ML4F("build/gesture", "models/gesture.h5", ML4F_FLOAT16=True)   # .bin .h .S
    objects = env.ML4FObject("build/digits", "models/digits.h5")         # the assembled .S

PlatformIO uses the same Tool through the library's extra script
(platformio_plugin/extra_script.py).  The compiler runs in-process through
``ml4f.api``; nothing here knows how models are compiled.
"""
import os

from .tool import exists, generate

#: the directory to pass as ``toolpath`` so that ``tools=["ml4f_scons"]`` finds this package
TOOLPATH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["generate", "exists", "TOOLPATH"]
