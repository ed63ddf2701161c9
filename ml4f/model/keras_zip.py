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

from ..errors import InvalidModelError, ModelFormatError, UnsupportedError
from ..limits import MAX_COMPRESSION_RATIO, MIN_RATIO_CHECK, Limits, describe
from .h5_weights import WeightBudget, dataset_array
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


#: what a .keras archive member may be compressed with (Keras writes these two)
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "lzma"}


def read_member(archive: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    """A member's bytes, its sizes and method checked before anything is inflated, and
    never more than `max_bytes` inflated whatever its header says."""
    info = archive.getinfo(name)
    if info.compress_type not in METHODS:
        method = METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
        raise UnsupportedError(f"archive member '{name}' is compressed with {method}; only "
                               "stored and deflate members are read (as Keras writes them)",
                               key="compress_type", value=info.compress_type)
    if info.file_size > max_bytes:
        raise InvalidModelError(f"archive member '{name}' inflates to "
                                f"{describe(info.file_size)}, more than the limit of "
                                f"{describe(max_bytes)} (--max-bytes)", key="max_bytes",
                                value=info.file_size)
    if info.file_size > MIN_RATIO_CHECK and \
            info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        raise InvalidModelError(f"archive member '{name}' inflates {describe(info.compress_size)}"
                                f" to {describe(info.file_size)} (more than "
                                f"{MAX_COMPRESSION_RATIO} times): not a model's data",
                                key="compression_ratio", value=info.file_size)
    with archive.open(info) as member:
        data = member.read(max_bytes + 1)
    if len(data) > max_bytes:               # pragma: no cover (zipfile stops at file_size)
        raise InvalidModelError(f"archive member '{name}' inflates to more than "
                                f"{describe(max_bytes)}", key="max_bytes")
    return data


def _json(data: bytes, name: str):
    return json.loads(data.decode("utf-8"))


class KerasArchive:
    """The parts of a ``.keras`` archive, read into memory."""

    def __init__(self, source, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        with zipfile.ZipFile(source) as archive:
            names = set(archive.namelist())
            if CONFIG_MEMBER not in names:
                raise ModelFormatError(
                    f"zip archive has no '{CONFIG_MEMBER}'; not a .keras model")
            self.config = _json(read_member(archive, CONFIG_MEMBER, limits.config_bytes),
                                CONFIG_MEMBER)
            self.keras_version = "unknown"
            if METADATA_MEMBER in names:
                try:
                    meta = _json(read_member(archive, METADATA_MEMBER, 1 << 20), METADATA_MEMBER)
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
            self._weights = read_member(archive, WEIGHTS_MEMBER, limits.file_bytes)

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


def _read_leaf(layer_group: h5py.Group, node: Node, where: str, kinds: LayerKinds | None,
               budget: WeightBudget) -> None:
    layer = node.layer
    groups = _vars_groups(layer_group)
    if len(groups) > 1 and _ordered(groups, node.class_name) is not None:
        arrays = []
        for sub, vars_group in _ordered(groups, node.class_name):
            arrays += _read_vars(vars_group, node, f"{where}/{sub}", kinds, len(arrays), budget)
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
        arrays = _read_vars(vars_group, node, f"{where}/{sub}", kinds, 0, budget)
    layer.weights = arrays
    check_weights(layer, kinds)


def _read_vars(vars_group: h5py.Group, node: Node, sub_where: str, kinds: LayerKinds | None,
               first: int, budget: WeightBudget) -> list:
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
        array = dataset_array(vars_group, str(i), f"layer '{layer.name}' weight {first + i}",
                              budget, layer)
        arrays.append(check_array(layer, first + i, array, kinds=kinds))
    return arrays


def _read_container(group: h5py.Group, nodes: list[Node], sequential: bool, where: str,
                    kinds: LayerKinds | None, budget: WeightBudget) -> None:
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
                            f"{path}/layers", kinds, budget)
        else:
            _read_leaf(sub, node, path, kinds, budget)


def read_weights(weights: h5py.File, structure: Structure, kinds: LayerKinds | None = None,
                 limits: Limits | None = None) -> None:
    """Fill ``layer.weights`` of every leaf of ``structure`` from ``model.weights.h5``."""
    layers = _group(weights, "layers", "layers")
    _read_container(layers, structure.nodes, structure.class_name == "Sequential", "layers", kinds,
                    WeightBudget(limits or Limits()))
