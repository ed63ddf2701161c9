"""The tables that make a layer kind work are complete: every op class has a
kernel and a reference and is made by some converter or graph pass, every
Keras class with a converter has a row in the README's supported-layers table
(and every class the table names has a converter), every converter's declared
weights agree with what its layer kind keeps.  A missing piece fails here,
not as a KeyError in the middle of a compile."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ml4f.graph.ops import OP_CLASSES
from ml4f.graph.registry import converters
from ml4f.kernels import KERNELS
from ml4f.reference import REFERENCE

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[1]
GRAPH = REPO / "ml4f" / "graph"
TABLE_HEADING = "## Supported layers"


def _called(*paths: Path) -> set[str]:
    """Names called like constructors anywhere in these modules (or packages)."""
    names = set()
    for root in paths:
        for path in ([root] if root.is_file() else root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                    names.add(node.func.id)
    return names


def _readme_classes() -> set[str]:
    """Keras class names in the first column of the README's supported-layers
    table; `MaxPooling1D/2D` stands for MaxPooling1D and MaxPooling2D."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(TABLE_HEADING):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    names = set()
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---") or line.startswith("| layer"):
            continue
        first = line.split("|")[1]
        for word in re.findall(r"`?([A-Z][A-Za-z0-9]*(?:/[0-9]D)*)`?", first):
            if "/" in word:
                stem = re.match(r"(.*?)([0-9]D)", word).group(1)
                for dims in re.findall(r"([0-9]D)", word):
                    names.add(stem + dims)
            else:
                names.add(word)
    return names


@pytest.mark.parametrize("kind", sorted(OP_CLASSES))
def test_every_op_kind_has_a_kernel_a_reference_and_a_maker(kind):
    cls = OP_CLASSES[kind]
    assert cls in KERNELS, f"op {cls.__name__} ({kind!r}) has no kernel (ml4f/kernels)"
    assert cls in REFERENCE, f"op {cls.__name__} ({kind!r}) has no reference (ml4f/reference)"
    # converters and passes make ops; validation makes the views of a lone op's
    # operands; the memory planner makes streamed regions; the conv family's choice
    # makes Winograd convolutions
    made = _called(GRAPH, REPO / "ml4f" / "validate.py", REPO / "ml4f" / "streaming.py",
                   REPO / "ml4f" / "kernels" / "winograd_plan.py")
    assert cls.__name__ in made, f"no converter or graph pass makes a {cls.__name__}"


def test_op_kinds_are_unique_names():
    assert len({cls.kind for cls in OP_CLASSES.values()}) == len(OP_CLASSES)
    assert all(kind == cls.kind for kind, cls in OP_CLASSES.items())


def test_every_converter_has_a_readme_row_and_every_row_a_converter():
    documented = _readme_classes()
    table = set(converters())
    assert table - documented == set(), "layer kinds with a converter but no README row"
    assert documented - table - {"InputLayer"} == set(), "README rows naming no converter"


@pytest.mark.parametrize("class_name", sorted(converters()))
def test_declared_weights_are_names(class_name):
    kind = converters()[class_name]
    names = kind.weights({})
    assert names is None or all(isinstance(n, str) and n for n in names)
    assert all(isinstance(i, int) for i in kind.integer_weights)
