"""ML4F for Python: a compiler from Keras models to Cortex-M4F machine code.

    import ml4f
    compiled = ml4f.compile_file("model.h5", float16=False, validate=True)
"""
__version__ = "0.1.0"

__all__ = ["compile_file", "compile_model", "Compiled", "Options", "__version__"]


def __getattr__(name):
    # the compiler pulls in numpy, h5py and unicorn: load it on first use only
    if name in ("compile_file", "compile_model", "Compiled", "Options"):
        from . import api
        return getattr(api, name)
    raise AttributeError(f"module 'ml4f' has no attribute {name!r}")
