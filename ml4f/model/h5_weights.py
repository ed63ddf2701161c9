"""Legacy HDF5 model files (``model.save("x.h5")`` by Keras 2 and Keras 3).

Configuration: root attribute ``model_config`` (JSON).  Weights: group ``model_weights``; one
group per top-level layer whose attribute ``weight_names`` gives the ``get_weights()`` order.
A nested Sequential keeps all its leaves' weights in the group of the top-level entry; each
weight belongs to the leaf named by the path elements before the weight's own name.
"""
from __future__ import annotations

import json

import h5py
import numpy as np

from ..errors import InvalidModelError, ModelFormatError
from ..limits import Limits, describe
from .records import Layer
from .structure import LayerKinds, Node, Structure
from .weight_checks import check_array, check_weights


class WeightBudget:
    """The bytes of weights read so far, against the limit for all of them (checked before
    each array is read, from its shape: a small file can declare a huge array)."""

    def __init__(self, limits: Limits) -> None:
        self.max_bytes = limits.max_bytes
        self.used = 0

    def take(self, nbytes: int, what: str, layer: Layer | None) -> None:
        kw = dict(layer=layer.name, layer_class=layer.class_name) if layer else {}
        if nbytes > self.max_bytes:
            raise InvalidModelError(f"{what} takes {describe(nbytes)}, more than the limit of "
                                    f"{describe(self.max_bytes)} for the weights (--max-bytes)",
                                    key="max_bytes", value=nbytes, **kw)
        if self.used + nbytes > self.max_bytes:
            raise InvalidModelError(f"the weights up to {what} take "
                                    f"{describe(self.used + nbytes)}, more than the limit of "
                                    f"{describe(self.max_bytes)} (--max-bytes)",
                                    key="max_bytes", value=self.used + nbytes, **kw)
        self.used += nbytes


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bytes_):
        return bytes(value).decode("utf-8")
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise ModelFormatError(f"expected a text attribute, found {type(value).__name__}")


def attr_strings(obj, name: str) -> list[str] | None:
    """A list-of-strings attribute, also when Keras split it into ``name0``, ``name1``…"""
    attrs = obj.attrs
    if name in attrs:
        chunks = [attrs[name]]
    elif f"{name}0" in attrs:
        chunks, i = [], 0
        while f"{name}{i}" in attrs:
            chunks.append(attrs[f"{name}{i}"])
            i += 1
    else:
        return None
    out: list[str] = []
    for chunk in chunks:
        values = np.atleast_1d(np.asarray(chunk))
        if values.size == 0:
            continue                      # Keras writes an empty float64 array for "none"
        out.extend(_text(v) for v in values.ravel())
    return out


def dataset_array(group: h5py.Group, path: str, what: str, budget: WeightBudget,
                  layer: Layer | None = None) -> np.ndarray:
    """Read a dataset reached through hard links only, stored inside this file, its size
    taken from `budget` before it is read."""
    node = group
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise ModelFormatError(f"empty dataset path for {what}")
    for i, part in enumerate(parts):
        link = node.get(part, getlink=True)
        if link is None:
            raise ModelFormatError(f"{what}: '{'/'.join(parts[:i + 1])}' is missing in "
                                   f"'{group.name}'")
        if not isinstance(link, h5py.HardLink):
            raise ModelFormatError(f"{what}: '{part}' is a {type(link).__name__}, "
                                   "not stored in this file")
        node = node[part]
    if not isinstance(node, h5py.Dataset):
        raise ModelFormatError(f"{what}: '{path}' is not a dataset")
    if node.external or node.is_virtual:
        raise ModelFormatError(f"{what}: '{path}' refers to data outside this file")
    if node.dtype.kind not in "fiu":
        # integers go on to the per-layer check, which knows the few layers that keep some
        raise ModelFormatError(f"{what}: '{path}' has dtype {node.dtype}, expected float32",
                               key="dtype", value=str(node.dtype))
    # as float32 (what the weights become), whatever their stored type
    budget.take(int(np.prod(node.shape, dtype=object)) * 4, what, layer)
    return np.asarray(node[()])


def _attribute_bytes(f: h5py.File, name: str) -> int:
    """The bytes an attribute's value takes when read (from its type and shape)."""
    attr = f.attrs.get_id(name)
    n = int(np.prod(attr.shape, dtype=object)) if attr.shape else 1
    return n * attr.get_storage_size() // max(n, 1) if attr.dtype.kind == "O" \
        else n * attr.dtype.itemsize


def read_config(f: h5py.File, limits: Limits | None = None) -> tuple[dict, str]:
    """The model configuration and Keras version of a legacy HDF5 model file."""
    limits = limits or Limits()
    if "model_config" not in f.attrs:
        if "layer_names" in f.attrs or "layers" in f:
            raise ModelFormatError("HDF5 file holds weights only (no 'model_config'); save the "
                                   "whole model with model.save()")
        raise ModelFormatError("HDF5 file has no 'model_config' attribute; not a Keras model")
    size = _attribute_bytes(f, "model_config")
    if size > limits.config_bytes:
        raise InvalidModelError(f"the model configuration takes {describe(size)}, more than "
                                f"the limit of {describe(limits.config_bytes)}",
                                key="model_config", value=size)
    config = json.loads(_text(f.attrs["model_config"]))
    version = f.attrs.get("keras_version")
    if version is None and isinstance(f.get("model_weights"), h5py.Group):
        version = f["model_weights"].attrs.get("keras_version")
    return config, _text(version) if version is not None else "unknown"


def _owner_score(owner: list[str], leaf: list[str]) -> tuple[int, int]:
    """How well a leaf's path names the owner path of a weight: (matched elements, position).

    The leaf's path must match a run of the owner path, ending anywhere in it (a recurrent
    layer's weights are named ``…/lstm/lstm_cell/kernel``).
    """
    best = (0, 0)
    for end in range(len(owner), 0, -1):
        n = 0
        while n < end and n < len(leaf) and owner[end - 1 - n] == leaf[-1 - n]:
            n += 1
        if n > best[0]:
            best = (n, end)
    return best


def _read_nested(group: h5py.Group, node: Node, kinds: LayerKinds | None,
                 budget: WeightBudget) -> None:
    """Weights of a nested Sequential: assign each stored weight to its owning leaf."""
    names = attr_strings(group, "weight_names")
    if names is None:
        raise ModelFormatError(f"weights group '{group.name}' has no 'weight_names'")
    leaves = [leaf for leaf in node.leaves()]
    top_depth = node.path.count("/")
    rel = [leaf.path.split("/")[top_depth:] for leaf in leaves]      # ["inner", "fc"]
    pool: dict[int, list[str]] = {i: [] for i in range(len(leaves))}
    for name in names:
        owner = name.split("/")[:-1]
        scores = [_owner_score(owner, r) for r in rel]
        best = max(scores, default=(0, 0))
        hits = [i for i, s in enumerate(scores) if s == best]
        if best[0] == 0:
            raise ModelFormatError(f"weight '{name}' in '{group.name}' belongs to no layer",
                                   layer=node.path, layer_class=node.class_name)
        if len(hits) > 1:
            raise ModelFormatError(
                f"weight '{name}' in '{group.name}' could belong to several layers "
                f"({', '.join(leaves[i].path for i in hits)})",
                layer=node.path, layer_class=node.class_name)
        pool[hits[0]].append(name)
    for i, leaf in enumerate(leaves):
        _fill(leaf, group, pool[i], kinds, budget)


def _fill(node: Node, group: h5py.Group, names: list[str], kinds: LayerKinds | None,
          budget: WeightBudget) -> None:
    """Read the datasets ``names`` (relative to ``group``) as the weights of a leaf."""
    layer = node.layer
    arrays = []
    for index, name in enumerate(names):
        label = name.split("/")[-1].split(":")[0]          # "kernel:0" -> "kernel"
        array = dataset_array(group, name, f"layer '{layer.name}' weight '{label}'", budget,
                              layer)
        arrays.append(check_array(layer, index, array, label, kinds))
    layer.weights = arrays
    check_weights(layer, kinds)


def read_weights(f: h5py.File, structure: Structure, kinds: LayerKinds | None = None,
                 limits: Limits | None = None) -> None:
    """Fill ``layer.weights`` of every leaf of ``structure`` from a legacy HDF5 file."""
    budget = WeightBudget(limits or Limits())
    root = f["model_weights"] if "model_weights" in f else f
    if not isinstance(root, h5py.Group):
        raise ModelFormatError("'model_weights' is not a group")
    for node in structure.nodes:
        if node.synthetic:
            continue
        link = root.get(node.name, getlink=True)
        if link is None:
            if node.is_input:
                continue
            raise ModelFormatError(f"no weights group '{root.name.rstrip('/')}/{node.name}'",
                                   layer=node.path, layer_class=node.class_name)
        if not isinstance(link, h5py.HardLink) or not isinstance(root[node.name], h5py.Group):
            raise ModelFormatError(f"'{node.name}' in '{root.name}' is not a group",
                                   layer=node.path, layer_class=node.class_name)
        group = root[node.name]
        if node.children is not None:
            _read_nested(group, node, kinds, budget)
            continue
        names = attr_strings(group, "weight_names")
        if names is None:
            raise ModelFormatError(f"weights group '{group.name}' has no 'weight_names'",
                                   layer=node.path, layer_class=node.class_name)
        _fill(node, group, names, kinds, budget)
