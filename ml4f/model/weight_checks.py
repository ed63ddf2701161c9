"""Checks of the weight arrays read for a layer: how many the layer kind keeps
(asked of the compiler's layer table), their dtype and finiteness (their sizes are
checked before they are read: h5_weights.WeightBudget)."""
from __future__ import annotations

import numpy as np

from ..errors import InvalidModelError, ModelFormatError
from .records import Layer
from .structure import LayerKinds


def _names(layer: Layer, kinds: LayerKinds | None) -> list[str] | None:
    return kinds.weight_names(layer.class_name, layer.config) if kinds is not None else None


def weight_label(layer: Layer, index: int, stored: str | None = None,
                 kinds: LayerKinds | None = None) -> str:
    """A readable name for weight ``index`` of a layer (for messages)."""
    if stored:
        return f"weight {index} '{stored}'"
    names = _names(layer, kinds)
    if names is not None and index < len(names):
        return f"weight {index} '{names[index]}'"
    return f"weight {index}"


def check_weights(layer: Layer, kinds: LayerKinds | None) -> None:
    """As many arrays as the layer kind keeps with this config (shapes are the
    converter's to check: it knows what they must fit)."""
    names = _names(layer, kinds)
    if names is not None and len(names) != len(layer.weights):
        raise ModelFormatError(
            f"has {len(layer.weights)} weight arrays, its config implies {len(names)} "
            f"({', '.join(names) or 'none'})", layer=layer.name, layer_class=layer.class_name)


def check_array(layer: Layer, index: int, array: np.ndarray, stored: str | None = None,
                kinds: LayerKinds | None = None) -> np.ndarray:
    """A float32 copy of a weight array, refusing other dtypes and non-finite values
    (integer statistics some kinds keep, e.g. an adapted Normalization's sample
    count, are read as float32)."""
    label = weight_label(layer, index, stored, kinds)
    kw = dict(layer=layer.name, layer_class=layer.class_name)
    integer = kinds.integer_weights(layer.class_name) if kinds is not None else ()
    if isinstance(array, np.ndarray) and array.dtype.kind in "iu" and index in integer:
        array = array.astype(np.float32)
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f" or array.dtype.itemsize != 4:
        dtype = getattr(array, "dtype", type(array).__name__)
        raise ModelFormatError(f"{label} has dtype {dtype}, expected float32", key="dtype",
                               value=str(dtype), **kw)
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        what = "NaN" if np.isnan(array).any() else "infinite values"
        raise InvalidModelError(f"{label} contains {what}", **kw)
    return array
