"""Plain records produced by the model readers.  Nothing here knows Keras semantics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Layer:
    """One leaf layer of the model, after nested models are flattened."""

    name: str                      # unique path name: "outer/inner/leaf" for nested Sequential
    class_name: str                # Keras class name, e.g. "Conv2D"
    config: dict                   # the layer's config as stored in the file
    weights: list[np.ndarray] = field(default_factory=list)   # get_weights() order
    inbound: list[str] = field(default_factory=list)          # names of the layers feeding it


@dataclass
class Model:
    path: str
    format: str                    # "h5" or "keras"
    keras_version: str             # e.g. "2.21.0" or "3.15.1"
    name: str
    input_shape: tuple[int, ...]   # batch dimension dropped
    layers: list[Layer]            # topological order; InputLayer included (no weights)
    inputs: list[str]              # names of the input layers
    outputs: list[str]             # names of the output layers
    sha256: str = ""               # of the file's bytes (part of the objects' content hash)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)
