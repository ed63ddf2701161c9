"""SCons action: .npy test inputs -> a C header of float arrays (exact float32 values)."""
import os

import numpy as np


def c_float(value) -> str:
    """A float literal that reads back as exactly this float32."""
    text = f"{float(value):.9g}"
    return text + ("f" if any(c in text for c in ".en") else ".0f")


def npy_to_header(target, source, env):
    """One `static const float NAME_inputs[n][elements]` per source, NAME from the file name
    (digits_test_x.npy -> digits_inputs), using at most $SAMPLES_PER_MODEL rows."""
    rows_wanted = int(env.get("SAMPLES_PER_MODEL", 8))
    out = ["/* generated from " + ", ".join(os.path.basename(str(s)) for s in source)
           + " by site_scons/c_arrays.py; do not edit */", "#pragma once", ""]
    for node in source:
        name = os.path.basename(str(node)).split("_")[0]
        x = np.load(node.get_abspath(), allow_pickle=False)[:rows_wanted].astype(np.float32)
        x = x.reshape(len(x), -1)
        out.append(f"#define {name.upper()}_SAMPLES {len(x)}")
        out.append(f"static const float {name}_inputs[{len(x)}][{x.shape[1]}] = {{")
        for row in x:
            out.append("    {" + ", ".join(c_float(v) for v in row) + "},")
        out.append("};")
        out.append("")
    with open(target[0].get_abspath(), "w") as fh:
        fh.write("\n".join(out))
    return 0
