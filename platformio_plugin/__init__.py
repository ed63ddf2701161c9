"""PlatformIO integration of ml4f.

The repository is a PlatformIO library (library.json): its runtime (runtime/ml4f.c)
is built like any library, and its extra script (extra_script.py, run by
PlatformIO for the library) compiles the Keras models named in the
environment's `custom_ml4f_models` with the ml4f_scons Tool and links them
into the firmware.  See docs/build-integration.md.

    platform-cm4qemu/   an offline PlatformIO development platform: Cortex-M4F boards
                        emulated by QEMU, built with the arm-none-eabi toolchain on PATH
    offline/            `python -m platformio_plugin.offline CORE_DIR [--mirror DIR]`: a
                        PlatformIO core directory that builds without the registry
    test_runner.py      the `pio test` runner for firmware printing FILE:LINE:NAME:PASS|FAIL
"""
