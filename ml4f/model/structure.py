"""Model configuration walking: Sequential, nested Sequential and Functional graphs.

Works on the parsed JSON only (``model_config`` of a legacy ``.h5`` or ``config.json`` of a
``.keras``).  Layer classes are matched against the tables of classes.py, and everything
refused is refused before any weight is read.

The result is a :class:`Structure`: the configuration tree (needed to locate weights, whose
layout follows the nesting of containers) and the flat list of :class:`~ml4f.model.records.Layer`
records (nested Sequential models flattened, path names ``outer/inner/leaf``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

from ..errors import ML4FError, ModelFormatError, UnsupportedError
from .classes import (
    BUILTIN_LAYER_CLASSES,
    CODE_LAYER_CLASSES,
    FUNCTIONAL_CLASSES,
    SEQUENTIAL_CLASSES,
    is_keras_module,
)
from .records import Layer


class LayerKinds(Protocol):
    """What the compiler knows of layer kinds, asked by the reader (the converter table)."""

    def check(self, name: str, class_name: str, config: dict) -> None:
        """Raise an ML4FError for a layer kind that cannot be compiled."""

    def weight_names(self, class_name: str, config: dict) -> "list[str] | None":
        """The get_weights() names of a layer (None: not known, not checked)."""

    def integer_weights(self, class_name: str) -> frozenset:
        """Weight indices stored as integers (read as float32)."""


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------

@dataclass
class Node:
    """One entry of a layer list in the configuration (a leaf layer or a nested Sequential)."""

    name: str                            # the name in the configuration
    class_name: str
    config: dict
    path: str                            # unique path name: "inner/leaf"
    entry: dict                          # the whole serialised entry (class_name, config, …)
    children: list["Node"] | None = None   # nested Sequential: its entries
    layer: Layer | None = None           # leaf: the record handed out
    synthetic: bool = False              # InputLayer made up for a Sequential without one
    refused: bool = False                # already reported as a problem

    @property
    def is_input(self) -> bool:
        return self.class_name == "InputLayer"

    def leaves(self) -> Iterator["Node"]:
        """Leaf nodes in order, nested InputLayers dropped."""
        if self.children is None:
            yield self
            return
        for child in self.children:
            if child.children is None and child.is_input:
                continue
            yield from child.leaves()


@dataclass
class Structure:
    name: str
    class_name: str                      # "Sequential" or "Functional"
    nodes: list[Node]                    # top-level entries in configuration order
    layers: list[Layer]                  # flattened, topological order
    inputs: list[str]
    outputs: list[str]
    input_shape: tuple[int, ...]
    problems: list[ML4FError] = field(default_factory=list)

    def leaf_nodes(self) -> Iterator[Node]:
        for node in self.nodes:
            yield from node.leaves()


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------

def _expect_dict(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise ModelFormatError(f"malformed model configuration: {what} is not a JSON object")
    return value


def _expect_list(value, what: str) -> list:
    if not isinstance(value, list):
        raise ModelFormatError(f"malformed model configuration: {what} is not a JSON list")
    return value


def dtype_name(dtype) -> str | None:
    """The dtype (policy) name of a layer config value: Keras 2 string or policy dict."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        return dtype
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("name"), str):
            return inner["name"]
        if isinstance(inner, str):
            return inner
    return repr(dtype)


def _shape_from(value) -> list | None:
    if isinstance(value, (list, tuple)) and value and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in value):
        return list(value)
    return None


def _batch_shape(node: Node) -> list | None:
    """The batch shape stated by an entry (InputLayer shape, batch_input_shape, build_config)."""
    cfg = node.config
    for key in ("batch_shape", "batch_input_shape"):
        shape = _shape_from(cfg.get(key))
        if shape is not None:
            return shape
    if node.children is not None:
        shape = _batch_shape(node.children[0]) if node.children else None
        if shape is not None:
            return shape
        shape = _shape_from(cfg.get("build_input_shape"))
        if shape is not None:
            return shape
    build = node.entry.get("build_config")
    if isinstance(build, dict):
        return _shape_from(build.get("input_shape"))
    return None


# --------------------------------------------------------------------------------------------
# Refusal rules (applied before any weight is read)
# --------------------------------------------------------------------------------------------

def _nested_objects(value, key: str) -> Iterator[tuple[str, dict]]:
    """Serialised objects (dicts with a class_name) nested anywhere in a config value."""
    stack = [(key, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            if "class_name" in item:
                yield where, item
            for k, v in item.items():
                if isinstance(v, (dict, list)):
                    stack.append((f"{where}.{k}" if where else str(k), v))
        elif isinstance(item, list):
            for i, v in enumerate(item):
                if isinstance(v, (dict, list)):
                    stack.append((f"{where}[{i}]", v))


def custom_description(cls: str, entry: dict) -> str:
    """"custom layer class 'MyLayer' (package 'Custom')" from a class name or a registered
    name 'Package>Class' (Keras's register_keras_serializable), and the module if given."""
    registered = entry.get("registered_name")
    name = registered if isinstance(registered, str) and ">" in registered else cls
    package, _, short = name.rpartition(">")
    detail = []
    if package:
        detail.append(f"package {package!r}")
    module = entry.get("module")
    if isinstance(module, str) and module and not is_keras_module(module):
        detail.append(f"module {module!r}")
    short = short or cls
    return f"custom layer class {short!r}" + (f" ({', '.join(detail)})" if detail else "")


def _is_custom(cls: str, entry: dict) -> bool:
    registered = entry.get("registered_name")
    return (cls not in BUILTIN_LAYER_CLASSES and cls not in SEQUENTIAL_CLASSES
            and cls not in FUNCTIONAL_CLASSES) or (isinstance(registered, str)
                                                   and registered != cls)


def _refusal(node: Node) -> UnsupportedError | None:
    """The reason a leaf is refused by the reader itself, or None."""
    cls, kw = node.class_name, dict(layer=node.path, layer_class=node.class_name)
    if cls in CODE_LAYER_CLASSES:
        return UnsupportedError(
            f"{cls} layers are not supported (they hold Python code, which is never decoded "
            "or run); rewrite it with built-in layers", key="class_name", value=cls, **kw)
    entry = node.entry
    registered = entry.get("registered_name")
    custom = []                                   # (key, value) marking a custom class
    if cls not in BUILTIN_LAYER_CLASSES:
        custom.append(("class_name", cls))
    if registered is not None and registered != cls:
        custom.append(("registered_name", registered))
    if "module" in entry and not is_keras_module(entry["module"]):
        custom.append(("module", entry["module"]))
    if custom:
        return UnsupportedError(f"{custom_description(cls, entry)} is not supported (only "
                                "Keras built-in layers are)", key=custom[0][0],
                                value=custom[0][1], **kw)
    for where, obj in _nested_objects(node.config, ""):
        inner = obj.get("class_name")
        if inner in CODE_LAYER_CLASSES or inner == "__lambda__":
            return UnsupportedError(
                f"config key '{where}' holds a {inner} (Python code, never decoded or run)",
                key=where, value=inner, **kw)
        if "module" in obj and not is_keras_module(obj["module"]):
            return UnsupportedError(
                f"config key '{where}' holds custom object {inner!r} from module "
                f"{obj['module']!r}; only Keras built-in objects are supported",
                key=where, value=obj["module"], **kw)
    dtype = dtype_name(node.config.get("dtype"))
    if dtype is not None and dtype != "float32":
        return UnsupportedError(
            f"dtype {dtype!r} is not supported; only float32 models are compiled",
            key="dtype", value=dtype, **kw)
    return None


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

class _Parser:
    def __init__(self) -> None:
        self.problems: list[ML4FError] = []

    def problem(self, error: ML4FError) -> None:
        self.problems.append(error)

    def entry(self, entry, prefix: str, where: str) -> Node:
        entry = _expect_dict(entry, where)
        cls = entry.get("class_name")
        if not isinstance(cls, str) or not cls:
            raise ModelFormatError(f"malformed model configuration: {where} has no class_name")
        cfg = entry.get("config")
        if cls in SEQUENTIAL_CLASSES and isinstance(cfg, list):     # very old Keras 2 files
            cfg = {"layers": cfg}
        cfg = _expect_dict(cfg if cfg is not None else {}, f"config of {where}")
        name = cfg.get("name", entry.get("name"))
        if cls in SEQUENTIAL_CLASSES and name is None:
            name = "sequential"
        if not isinstance(name, str) or not name:
            if _is_custom(cls, entry):
                raise UnsupportedError(f"{where}: {custom_description(cls, entry)} is not "
                                       "supported (only Keras built-in layers are)",
                                       key="class_name", value=cls)
            raise ModelFormatError(f"malformed model configuration: {where} ({cls}) has no name")
        node = Node(name=name, class_name=cls, config=cfg, path=prefix + name, entry=entry)
        if cls in SEQUENTIAL_CLASSES:
            node.children = self.layer_list(cfg.get("layers"), node.path + "/",
                                            f"layers of '{node.path}'")
            for i, child in enumerate(node.children):
                if child.children is None and child.is_input and i > 0:
                    raise ModelFormatError("InputLayer is not the first layer of its Sequential model",
                                     layer=child.path, layer_class=child.class_name)
        elif cls in FUNCTIONAL_CLASSES:
            node.refused = True
            self.problem(UnsupportedError(
                "a Functional model nested inside another model is not supported; save the "
                "inner model's layers directly in the outer model",
                layer=node.path, layer_class=cls, key="class_name", value=cls))
        else:
            refusal = _refusal(node)
            if refusal is not None:
                node.refused = True
                self.problem(refusal)
        return node

    def layer_list(self, layers, prefix: str, where: str) -> list[Node]:
        layers = _expect_list(layers, where)
        return [self.entry(e, prefix, f"entry {i} of {where}") for i, e in enumerate(layers)]


def _make_layer(node: Node, inbound: list[str]) -> Layer:
    node.layer = Layer(name=node.path, class_name=node.class_name, config=node.config,
                       inbound=list(inbound))
    return node.layer


def _input_shape(node: Node, parser: _Parser) -> tuple[int, ...]:
    shape = _batch_shape(node)
    if shape is None:
        raise UnsupportedError(
            "the model's input shape is not stated in the file (build the model with an "
            "Input layer before saving)", layer=node.path, layer_class=node.class_name)
    dims = shape[1:]
    if any(d is None or d <= 0 for d in dims):
        parser.problem(UnsupportedError(
            f"input shape {tuple(dims)} has an unknown or empty dimension; a fixed shape is "
            "required", layer=node.path, layer_class=node.class_name, key="batch_shape",
            value=shape))
        return tuple(d if d is not None else 0 for d in dims)
    return tuple(int(d) for d in dims)


def _parse_sequential(root: dict, parser: _Parser) -> Structure:
    cfg = root.get("config")
    if isinstance(cfg, list):                                   # very old Keras 2 files
        cfg = {"layers": cfg}
    cfg = _expect_dict(cfg, "the model config")
    name = cfg.get("name") if isinstance(cfg.get("name"), str) else "sequential"
    top = Node(name=name, class_name="Sequential", config=cfg, path="", entry=root)
    # Top-level layers are named without the model's own name.
    top.children = parser.layer_list(cfg.get("layers"), "", "the model's layers")
    nodes = top.children
    for i, child in enumerate(nodes):
        if child.children is None and child.is_input and i > 0:
            raise ModelFormatError("InputLayer is not the first layer of the Sequential model",
                             layer=child.path, layer_class=child.class_name)
    leaves = [n for n in top.leaves()]
    if nodes and nodes[0].children is None and nodes[0].is_input:
        input_node = nodes[0]
    else:
        shape = _batch_shape(top)
        first = leaves[0].path.split("/")[-1] if leaves else top.name
        taken = {n.path for n in leaves}
        name = f"{first}_input"
        while name in taken:
            name += "_"
        cfg = {"name": name, "batch_shape": shape, "batch_input_shape": shape,
               "dtype": "float32"}
        input_node = Node(name=name, class_name="InputLayer", config=cfg, path=name,
                          entry={"class_name": "InputLayer", "config": cfg}, synthetic=True)
        nodes.insert(0, input_node)
    input_shape = _input_shape(input_node if not input_node.synthetic else top, parser)
    layers = [_make_layer(input_node, [])]
    prev = input_node.path
    for leaf in leaves:
        layers.append(_make_layer(leaf, [prev]))
        prev = leaf.path
    return Structure(name=top.name, class_name="Sequential", nodes=nodes, layers=layers,
                     inputs=[input_node.path], outputs=[prev], input_shape=input_shape,
                     problems=parser.problems)


def _coordinates(value, what: str) -> list[tuple[str, int]]:
    """input_layers / output_layers: [name, node, tensor] or a list (or dict) of them."""
    if isinstance(value, dict):
        value = list(value.values())
    value = _expect_list(value, what)
    if value and isinstance(value[0], str):
        value = [value]
    coords = []
    for item in value:
        if (not isinstance(item, list) or len(item) < 3 or not isinstance(item[0], str)
                or not isinstance(item[2], int)):
            raise ModelFormatError(f"malformed model configuration: bad entry in {what}")
        coords.append((item[0], item[2]))
    return coords


def _tensor_refs(inbound_node, known: set[str]) -> list[tuple[str, int]]:
    """(layer name, tensor index) of every tensor feeding one call, in argument order."""
    refs: list[tuple[str, int]] = []
    if isinstance(inbound_node, dict):                     # Keras 3
        stack = [inbound_node.get("kwargs", {}), inbound_node.get("args", [])]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                if item.get("class_name") == "__keras_tensor__":
                    hist = _expect_dict(item.get("config"), "a keras tensor").get("keras_history")
                    if (not isinstance(hist, list) or len(hist) < 3
                            or not isinstance(hist[0], str) or not isinstance(hist[2], int)):
                        raise ModelFormatError("malformed model configuration: bad keras_history")
                    refs.append((hist[0], hist[2]))
                else:
                    stack.extend(reversed(list(item.values())))
            elif isinstance(item, list):
                stack.extend(reversed(item))
        return refs
    for item in _expect_list(inbound_node, "an inbound node"):   # Keras 2
        if (not isinstance(item, list) or len(item) < 3 or not isinstance(item[0], str)
                or not isinstance(item[2], int)):
            raise ModelFormatError("malformed model configuration: bad inbound node entry")
        refs.append((item[0], item[2]))
        kwargs = item[3] if len(item) > 3 else None
        if isinstance(kwargs, dict):
            for v in kwargs.values():
                if (isinstance(v, list) and len(v) == 3 and isinstance(v[0], str)
                        and v[0] in known and isinstance(v[2], int)):
                    refs.append((v[0], v[2]))
    return refs


def _parse_functional(root: dict, parser: _Parser) -> Structure:
    cfg = _expect_dict(root.get("config"), "the model config")
    name = cfg.get("name") if isinstance(cfg.get("name"), str) else "model"
    entries = _expect_list(cfg.get("layers"), "the model's layers")
    nodes = [parser.entry(e, "", f"entry {i} of the model's layers") for i, e in enumerate(entries)]
    by_name: dict[str, Node] = {}
    for node in nodes:
        if node.name in by_name:
            raise ModelFormatError(f"two layers are named '{node.name}'")
        by_name[node.name] = node
    known = set(by_name)

    def check_index(ref: tuple[str, int], user: str, user_cls: str | None) -> None:
        if ref[1] != 0:
            src = by_name[ref[0]]
            parser.problem(UnsupportedError(
                f"uses output {ref[1]} of layer '{ref[0]}' ({src.class_name}); layers with "
                "several outputs are not supported", layer=user, layer_class=user_cls,
                key="tensor_index", value=ref[1]))

    # Inbound references per top-level entry.
    refs: dict[str, list[tuple[str, int]]] = {}
    for node, entry in zip(nodes, entries):
        inbound_nodes = entry.get("inbound_nodes", [])
        inbound_nodes = _expect_list(inbound_nodes, f"inbound_nodes of '{node.name}'")
        if not inbound_nodes:
            if not node.is_input:
                raise ModelFormatError("layer has no inbound connection", layer=node.path,
                                 layer_class=node.class_name)
            refs[node.name] = []
            continue
        if len(inbound_nodes) > 1:
            parser.problem(UnsupportedError(
                f"layer is called {len(inbound_nodes)} times; shared layers are not supported",
                layer=node.path, layer_class=node.class_name, key="inbound_nodes",
                value=len(inbound_nodes)))
        node_refs = _tensor_refs(inbound_nodes[0], known)
        for ref in node_refs:
            if ref[0] not in by_name:
                raise ModelFormatError(f"refers to unknown layer '{ref[0]}'", layer=node.path,
                                 layer_class=node.class_name)
            check_index(ref, node.path, node.class_name)
        refs[node.name] = node_refs

    inputs = _coordinates(cfg.get("input_layers"), "input_layers")
    outputs = _coordinates(cfg.get("output_layers"), "output_layers")
    for ref in inputs + outputs:
        if ref[0] not in by_name:
            raise ModelFormatError(f"model input/output refers to unknown layer '{ref[0]}'")
    if not inputs or not outputs:
        raise ModelFormatError("malformed model configuration: the model has no input or output")
    if len(inputs) > 1:
        parser.problem(UnsupportedError(
            f"multi-input models are not supported (inputs: {', '.join(r[0] for r in inputs)})",
            key="input_layers", value=[r[0] for r in inputs]))
    if len(outputs) > 1:
        parser.problem(UnsupportedError(
            "multi-output models are not supported (outputs: "
            f"{', '.join(r[0] for r in outputs)})",
            key="output_layers", value=[r[0] for r in outputs]))
    for ref in outputs:
        check_index(ref, ref[0], by_name[ref[0]].class_name)
    for ref in inputs:
        if not by_name[ref[0]].is_input:
            raise ModelFormatError(f"model input '{ref[0]}' is not an InputLayer")

    # Stable topological order of the top-level entries.
    order: list[Node] = []
    placed: set[str] = set()
    pending = list(nodes)
    while pending:
        rest = [n for n in pending if not all(r[0] in placed for r in refs[n.name])]
        ready = [n for n in pending if all(r[0] in placed for r in refs[n.name])]
        if not ready:
            raise ModelFormatError("the layer graph has a cycle", layer=rest[0].path,
                             layer_class=rest[0].class_name)
        order.extend(ready)
        placed.update(n.name for n in ready)
        pending = rest

    # Flatten: a nested Sequential becomes the chain of its leaves.
    out_name: dict[str, str] = {}
    layers: list[Layer] = []
    for node in order:
        inbound = [out_name[r[0]] for r in refs[node.name]]
        if node.children is None:
            layers.append(_make_layer(node, inbound))
            out_name[node.name] = node.path
            continue
        prev = inbound
        for leaf in node.leaves():
            layers.append(_make_layer(leaf, prev))
            prev = [leaf.path]
        if len(prev) != 1:
            raise ModelFormatError("nested Sequential model without layers has several inputs",
                             layer=node.path, layer_class=node.class_name)
        out_name[node.name] = prev[0]

    input_node = by_name[inputs[0][0]]
    return Structure(name=name, class_name="Functional", nodes=nodes, layers=layers,
                     inputs=[by_name[r[0]].path for r in inputs],
                     outputs=[out_name[r[0]] for r in outputs],
                     input_shape=_input_shape(input_node, parser), problems=parser.problems)


def parse_config(root) -> Structure:
    """Parse a model configuration (the decoded JSON) into a :class:`Structure`.

    Structural damage raises :class:`ModelFormatError` at once; refusals (code layers, custom
    classes, dtypes, several inputs/outputs…) are collected in ``Structure.problems``.
    """
    root = _expect_dict(root, "the model configuration")
    cls = root.get("class_name")
    parser = _Parser()
    if cls in SEQUENTIAL_CLASSES:
        structure = _parse_sequential(root, parser)
    elif cls in FUNCTIONAL_CLASSES:
        structure = _parse_functional(root, parser)
    else:
        raise UnsupportedError(
            f"model class {cls!r} is not supported (only Sequential and Functional models)",
            key="class_name", value=cls)
    seen: set[str] = set()
    for layer in structure.layers:
        if layer.name in seen:
            raise ModelFormatError("two layers have the same path name", layer=layer.name,
                             layer_class=layer.class_name)
        seen.add(layer.name)
    return structure


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------

def run_layer_checks(structure: Structure, kinds: LayerKinds | None) -> None:
    """Call ``kinds.check(name, class_name, config)`` for every layer not already refused.

    :class:`ML4FError` raised by it is collected in ``structure.problems``; any
    other exception propagates unchanged.
    """
    if kinds is None:
        return
    refused = {n.path for n in structure.leaf_nodes() if n.refused}
    for layer in structure.layers:
        if layer.name in refused:
            continue
        try:
            kinds.check(layer.name, layer.class_name, layer.config)
        except ML4FError as error:
            if error.layer is None:
                error.layer, error.layer_class = layer.name, layer.class_name
            structure.problems.append(error)


def raise_problems(problems: list[ML4FError]) -> None:
    """Raise one error for all problems: the first one, and how many more there are."""
    if not problems:
        return
    first = problems[0]
    message = first.message
    if len(problems) > 1:
        more = len(problems) - 1
        message = f"{message} (and {more} more problem{'s' if more > 1 else ''})"
    error = type(first)(message, path=first.path, layer=first.layer,
                        layer_class=first.layer_class, key=first.key, value=first.value)
    error.problems = list(problems)
    raise error
