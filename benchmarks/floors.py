"""The floor formulas live in ml4f.floors (the compile report shows them too)."""
from ml4f.floors import (Floor, conv_tile, dense_tile, depthwise_tile, effective_macs,  # noqa: F401
                         floor)
