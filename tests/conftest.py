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
