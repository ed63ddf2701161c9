"""Extra script of the ml4f PlatformIO library (library.json: build.extraScript).

PlatformIO runs it for every library builder, also in its IDE-metadata pass:
it does nothing unless the environment sets `custom_ml4f_models`, does
configure-time work only once per environment, compiles nothing itself (the
builder's actions do, when SCons decides a model is out of date) and never
calls exit().
"""
import os
import sys

Import("env")  # noqa: F821  (provided by SCons)

# SCons runs this file with the current node directory set to the file's own.
LIBRARY_DIR = os.path.dirname(env.Dir(".").srcnode().get_abspath())  # noqa: F821

# This library's own plugin and Tool, also when an older ml4f is installed.
sys.path.insert(0, LIBRARY_DIR)
try:
    import ml4f_scons  # noqa: F401
    from platformio_plugin.configure import configure
finally:
    sys.path.remove(LIBRARY_DIR)

configure(env, LIBRARY_DIR)  # noqa: F821
