"""Settings for the whole test session."""
import os

# Before any TensorFlow import: no C++ log lines, no oneDNN custom ops (and their notice).
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

# Known harmless warnings of Keras / TensorFlow while creating fixtures.
HARMLESS_WARNINGS = (
    r"ignore:You are saving your model as an HDF5 file",
    r"ignore:.*__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    r"ignore:No training configuration found in the save file",
    r"ignore:.*triggered tf.function retracing",
)


def pytest_configure(config):
    for line in HARMLESS_WARNINGS:
        config.addinivalue_line("filterwarnings", line)
    _block_heavy_imports(config)


class _Unavailable:
    """Import blocker for `pytest -m unit`: the fast inner loop must not need
    TensorFlow, Keras or SCons, and a unit test that imports them fails loudly."""

    BLOCKED = ("tensorflow", "keras", "tf_keras", "SCons")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED:
            raise ImportError(f"{name} is not available to unit tests (pytest -m unit)")
        return None


def _block_heavy_imports(config) -> None:
    import sys
    if config.getoption("markexpr", "") == "unit":
        sys.meta_path.insert(0, _Unavailable())
