"""Keras v3 ``.keras`` archives (written by Keras 3 and by tf_keras 2.21).

A zip with ``config.json`` (model configuration), ``metadata.json`` (Keras version) and
``model.weights.h5``.  In the weights file, layers are addressed by the snake-cased class name
made unique per container (``dense``, ``dense_1``…) in ``model.layers`` order, with arrays at
``layers/<key>/vars/<i>`` and nested Sequential models under ``layers/<key>/layers/…``.
"""
from __future__ import annotations

import io
import json
import re
import zipfile

import h5py

from ..errors import ModelFormatError, UnsupportedError
from .h5_weights import dataset_array
from .structure import LayerKinds, Node, Structure
from .weight_checks import check_array, check_weights

CONFIG_MEMBER = "config.json"
METADATA_MEMBER = "metadata.json"
WEIGHTS_MEMBER = "model.weights.h5"


def to_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case`` (``ReLU`` → ``re_lu``, ``Conv2D`` → ``conv2d``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique(name: str, used: dict[str, int]) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


class KerasArchive:
    """The parts of a ``.keras`` archive, read into memory."""

    def __init__(self, source) -> None:
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
            if CONFIG_MEMBER not in names:
                raise ModelFormatError(
                    f"zip archive has no '{CONFIG_MEMBER}'; not a .keras model")
            self.config = json.loads(archive.read(CONFIG_MEMBER).decode("utf-8"))
            self.keras_version = "unknown"
            if METADATA_MEMBER in names:
                try:
                    meta = json.loads(archive.read(METADATA_MEMBER).decode("utf-8"))
                except ValueError:
                    meta = None
                if isinstance(meta, dict) and isinstance(meta.get("keras_version"), str):
                    self.keras_version = meta["keras_version"]
            if WEIGHTS_MEMBER not in names:
                sharded = sorted(n for n in names if n.endswith((".weights.h5", ".weights.json",
                                                                  ".npz")))
                extra = f" (found {', '.join(sharded)}; sharded or non-HDF5 weights are not " \
                        "supported)" if sharded else ""
                raise ModelFormatError(f"zip archive has no '{WEIGHTS_MEMBER}'{extra}")
            self._weights = archive.read(WEIGHTS_MEMBER)

    def open_weights(self) -> h5py.File:
        """The weights file, opened from memory."""
        return h5py.File(io.BytesIO(self._weights), "r")


def _group(parent: h5py.Group, key: str, where: str) -> h5py.Group:
    link = parent.get(key, getlink=True)
    if link is None:
        raise ModelFormatError(f"weights group '{where}' is missing")
    if not isinstance(link, h5py.HardLink) or not isinstance(parent[key], h5py.Group):
        raise ModelFormatError(f"'{where}' in the weights file is not a group")
    return parent[key]


def _check_name(vars_group: h5py.Group, node: Node, where: str) -> None:
    stored = vars_group.attrs.get("name")
    if stored is None:
        return
    if isinstance(stored, bytes):
        stored = stored.decode("utf-8", "replace")
    if str(stored) != node.name:
        raise ModelFormatError(
            f"weights group '{where}' belongs to layer '{stored}', expected '{node.name}' "
            "(configuration and weights do not match)", layer=node.path,
            layer_class=node.class_name)


def _vars_groups(group: h5py.Group, prefix: str = "") -> list[tuple[str, h5py.Group]]:
    """Every non-empty ``vars`` group below a layer's group: its own and its sub-objects'."""
    found = []
    for key in sorted(group.keys()):
        link = group.get(key, getlink=True)
        item = group[key] if isinstance(link, h5py.HardLink) else None
        if not isinstance(item, h5py.Group):
            continue
        if key == "vars":
            if len(item):
                found.append((prefix + key, item))
        else:
            found.extend(_vars_groups(item, f"{prefix}{key}/"))
    return found


#: layers that keep their weights in several sub-objects, in get_weights() order
SUB_OBJECTS = {"Bidirectional": ("forward_layer/", "backward_layer/")}


def _ordered(groups: list, class_name: str) -> list | None:
    """The sub-objects' vars groups in get_weights() order, if the layer kind says it."""
    order = SUB_OBJECTS.get(class_name, ())
    rank = [next((i for i, p in enumerate(order) if sub.startswith(p)), None) for sub, _ in groups]
    if None in rank or len(set(rank)) != len(rank):
        return None
    return [g for _, g in sorted(zip(rank, groups), key=lambda x: x[0])]


def _read_leaf(layer_group: h5py.Group, node: Node, where: str, kinds: LayerKinds | None) -> None:
    layer = node.layer
    groups = _vars_groups(layer_group)
    if len(groups) > 1 and _ordered(groups, node.class_name) is not None:
        arrays = []
        for sub, vars_group in _ordered(groups, node.class_name):
            arrays += _read_vars(vars_group, node, f"{where}/{sub}", kinds, len(arrays))
        layer.weights = arrays
        check_weights(layer, kinds)
        return
    if len(groups) > 1:
        raise UnsupportedError(
            "weights are stored in several sub-objects ("
            f"{', '.join(g[0].rsplit('/', 1)[0] for g in groups)}) whose get_weights() order "
            "a .keras file does not record; save the model as .h5",
            layer=node.path, layer_class=node.class_name)
    arrays = []
    if groups:
        sub, vars_group = groups[0]
        arrays = _read_vars(vars_group, node, f"{where}/{sub}", kinds, 0)
    layer.weights = arrays
    check_weights(layer, kinds)


def _read_vars(vars_group: h5py.Group, node: Node, sub_where: str, kinds: LayerKinds | None,
               first: int) -> list:
    """The arrays of one vars group, numbered 0..n-1 (`first`: the index of the first one
    among the layer's weights)."""
    layer = node.layer
    keys = list(vars_group.keys())
    if not all(k.isdigit() for k in keys):
        raise ModelFormatError(f"unexpected entries in '{sub_where}': {sorted(keys)}",
                               layer=node.path, layer_class=node.class_name)
    indices = sorted(int(k) for k in keys)
    if indices != list(range(len(indices))):
        raise ModelFormatError(
            f"weights in '{sub_where}' are not numbered 0..{len(indices) - 1}",
            layer=node.path, layer_class=node.class_name)
    arrays = []
    for i in indices:
        array = dataset_array(vars_group, str(i), f"layer '{layer.name}' weight {first + i}")
        arrays.append(check_array(layer, first + i, array, kinds=kinds))
    return arrays


def _read_container(group: h5py.Group, nodes: list[Node], sequential: bool, where: str,
                    kinds: LayerKinds | None) -> None:
    used: dict[str, int] = {}
    for node in nodes:
        if node.synthetic or (sequential and node.is_input and node.children is None):
            continue                         # a Sequential's `layers` excludes its InputLayer
        key = _unique(to_snake_case(node.class_name), used)
        path = f"{where}/{key}"
        sub = _group(group, key, path)
        vars_group = _group(sub, "vars", f"{path}/vars")
        _check_name(vars_group, node, f"{path}/vars")
        if node.children is not None:
            _read_container(_group(sub, "layers", f"{path}/layers"), node.children, True,
                            f"{path}/layers", kinds)
        else:
            _read_leaf(sub, node, path, kinds)


def read_weights(weights: h5py.File, structure: Structure, kinds: LayerKinds | None = None) -> None:
    """Fill ``layer.weights`` of every leaf of ``structure`` from ``model.weights.h5``."""
    layers = _group(weights, "layers", "layers")
    _read_container(layers, structure.nodes, structure.class_name == "Sequential", "layers", kinds)
