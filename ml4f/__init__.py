"""ML4F for Python: a compiler from Keras models to Cortex-M4F machine code."""
__version__ = "0.1.0"
