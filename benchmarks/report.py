"""Write a run's results: results.json, results.md and cmac.png."""
from __future__ import annotations

import json
from pathlib import Path

SCHEMA = "ml4f-benchmarks/1"


def write_all(results: dict, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "md": out / "results.md", "png": out / "cmac.png"}
    paths["json"].write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    paths["md"].write_text(markdown(results))
    plot(results, paths["png"])
    return paths


# ------------------------------------------------------------------ Markdown
def _n(v) -> str:
    return "–" if v is None else f"{v:,}"


def _f(v, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _status(met) -> str:
    return "n/a" if met is None else ("**met**" if met else "**NOT met**")


def _table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"] + [
        "| " + " | ".join(r) + " |" for r in rows]


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [
        "# ML4F benchmark results",
        "",
        f"`{results['command']}` with {results['compiler']}; {len(results['models'])} models"
        + (" (quick run)" if results["quick"] else "") + ".",
        ("Cycles are estimates for zero-wait-state memory: the emulator's basic-block profile "
         "costed by ml4f's Cortex-M4F timing model, the same model for our objects and for the "
         "C baseline (see benchmarks/README.md)."),
        (f"C baseline: `{env['gcc']}` with `{' '.join(env['baseline_flags']['no-fma'])}` "
         f"(\"no-fma\": VMUL + VADD like our code) and with `-ffp-contract=fast` (\"fma\": VFMA)."),
        "",
        "## Goals",
        "",
    ]
    lines += _table(["goal", "measured", "status"],
                    [[g["goal"], g["measured"], _status(g["met"])] for g in results["goals"]],
                    "llc")
    lines += ["", "## Models (float32, --optimize balanced unless stated)", ""]
    rows = []
    for m in results["models"]:
        if m["status"] != "ok":
            rows.append([m["name"]] + ["–"] * 14 + [f"{m['status']}"])
            continue
        f32, f16, b = m["f32"], m["f16"], m.get("baseline", {})
        var = b.get("variants", {})
        rows.append([
            m["name"], _n(m["macs"]), _n(f32["cycles"]), _f(f32["cycles_per_mac"], 3),
            _n(f32["floor_cycles"]),
            _f(f32["mac_layer_cycles"] / f32["floor_cycles"]) if f32["floor_cycles"] else "–",
            _n(var.get("no-fma", {}).get("cycles")), _n(var.get("fma", {}).get("cycles")),
            (_f(b["speedup"]["no-fma"]) + "×") if "speedup" in b else "–",
            _n(f16["cycles"]), _f(f16["cycles_per_mac"], 3),
            _n(f32["code_bytes"]), _n(f32["weight_bytes"]),
            f"{f32['arena_bytes']:,} ({f32['arena_lower_bound']:,})",
            _f(f32["compile_seconds"]),
            "ok" if b.get("status") == "ok" else b.get("status", "–"),
        ])
    lines += _table(["model", "MACs", "cycles", "c/MAC", "floor (MAC layers)", "MAC layers / floor",
                     "C no-fma", "C fma", "speed-up vs C", "f16 cycles", "f16 c/MAC", "code B",
                     "weights B", "arena B (lower bound)", "compile s", "C baseline"], rows,
                    "l" + "r" * 14 + "l")
    lines += ["", ("Floor: sum of the MAC layers' floors; \"MAC layers / floor\" compares the "
                   "cycles of those layers only.  Speed-up: C no-fma cycles / our cycles.  "
                   "Compile time is with validation, wall clock."), ""]

    lines += ["## Memory (float32)", ""]
    rows = []
    for m in results["models"]:
        if m["status"] != "ok" or "op_by_op" not in m:
            continue
        f32, fast = m["f32"], m["op_by_op"]
        rows.append([m["name"], _n(f32["arena_op_by_op"]), _n(fast["arena_bytes"]),
                     _n(f32["arena_bytes"]), str(f32["streamed_regions"]), f32["arena_peak_op"] or "–",
                     _n(fast["cycles"]), _n(f32["cycles"]),
                     _f(f32["cycles"] / fast["cycles"], 3), _f(fast["compile_seconds"]),
                     _f(f32["compile_seconds"])])
    lines += _table(["model", "whole tensors op by op B", "overlaps, no streaming B",
                     "default arena B", "streamed regions", "peak at", "cycles op by op",
                     "cycles default", "ratio", "compile s op by op (not validated)",
                     "compile s default (validated)"], rows, "lrrrrlrrrrr")
    lines += ["", ("Whole tensors op by op: the bound before any output is written over its "
                   "input.  Overlaps: outputs behind their input's read front and merges in "
                   "their producer's store (no cycles lost); default: plus the regions the "
                   "planner streams (--arena-goal balanced)."), ""]

    lines += ["## Code size by --optimize (float32)", ""]
    rows = []
    for m in results["models"]:
        if m["status"] != "ok":
            continue
        cells = [m["name"], _n(m["f32"]["weight_bytes"])]
        for mode in ("size", "balanced", "speed"):
            r = m["optimize"].get(mode)
            cells.append("–" if r is None else f"{r['code_bytes']:,} B / {r['cycles']:,} c")
        rows.append(cells)
    lines += _table(["model", "weights B", "size: code / cycles", "balanced: code / cycles",
                     "speed: code / cycles"], rows)
    lines += [""]

    lines += ["## Winograd convolutions (float32, --optimize speed)", ""]
    rows = []
    for m in results["models"]:
        w = m.get("winograd") if m["status"] == "ok" else None
        if not w:
            continue
        chosen = [L for L in w["layers"] if L["algorithm"] == "winograd"]
        layers = "; ".join(f"{L['name']}{' (streamed)' if L.get('streamed') else ''}: "
                           f"{_f(L['cycles_per_mac'])} c/MAC (direct "
                           f"{_f(L['direct_cycles_per_mac'])}"
                           + (f", floor {_f(L['floor_cycles_per_mac'])}"
                              if L.get("floor_cycles_per_mac") is not None else "")
                           + f"), +{L['extra_flash_bytes']:,} B" for L in chosen) or "none chosen"
        rows.append([m["name"], _n(w["direct_cycles"]), _n(w["cycles"]), _f(w["ratio"], 3),
                     f"{w['direct_object_bytes']:,} → {w['object_bytes']:,}",
                     f"{w['direct_arena_bytes']:,} → {w['arena_bytes']:,}", layers])
    lines += _table(["model", "direct only cycles", "with Winograd cycles", "ratio",
                     "object B", "arena B", "Winograd layers (c/MAC per direct MAC)"], rows,
                    "lrrrrrl")
    lines += ["", ("Both objects compiled in the same run: `--winograd off` against the default "
                   "choice (`--optimize speed`); \"(streamed)\": a layer inside a streamed "
                   "region, its cycles those of its subroutine."), ""]

    lines += ["## Per layer", ""]
    for m in results["models"]:
        lines += [f"### {m['name']}: {m['description']}", ""]
        if m["status"] != "ok":
            lines += [f"{m['status']}: `{m.get('error', '')}`", ""]
            continue
        lines += _layer_table(m) + [""]
        b = m.get("baseline", {})
        if b.get("status") == "not available":
            lines += [f"C baseline not available: {b['error']}", ""]
        elif b:
            v = b["variants"]["no-fma"]
            w = b["variants"]["fma"]
            lines += [(f"C baseline: no-fma {v['cycles']:,} cycles ({v['other_cycles']:,} in "
                       f"model_run), fma {w['cycles']:,}; outputs vs our object: max difference "
                       f"{v['max_output_diff']:.1e} / {w['max_output_diff']:.1e} "
                       f"({'equal within 1e-5' if b['status'] == 'ok' else 'DIFFERENT'})."), ""]
    lines += [f"Run time: {results['run_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def _layer_table(m: dict) -> list[str]:
    f32, f16 = m["f32"], m["f16"]
    b = m.get("baseline", {})
    var = b.get("variants", {})
    rows = []
    streamed = any(L["op"] == "stream" for L in f32["layers"] + f16["layers"])
    if streamed and "layers" in m.get("op_by_op", {}):
        # per layer: the op-by-op objects (a streamed region is one op)
        f32, f16 = m["op_by_op"], m.get("op_by_op_f16", {"layers": []})
    for i, L in enumerate(f32["layers"]):
        L16 = f16["layers"][i] if i < len(f16["layers"]) else None
        macs = L["macs"]
        outputs = _elems(L["output_shape"])

        def per(cycles, macs=macs, outputs=outputs):
            """c/MAC, or cycles per output element for layers without MACs."""
            if cycles is None:
                return "–"
            return f"{cycles / macs:.2f}" if macs else f"{cycles / outputs:.2f}/out"

        c_nofma = var.get("no-fma", {}).get("layer_cycles", [None] * (i + 1))[i]
        c_fma = var.get("fma", {}).get("layer_cycles", [None] * (i + 1))[i]
        goal = "–"
        if L["goal_limit"] is not None:
            goal = f"≤ {L['goal_limit']}: {'met' if L['goal_met'] else 'NOT met'}"
            if L16 is not None and L16["goal_limit"] is not None:
                goal += f"; f16 ≤ {L16['goal_limit']}: {'met' if L16['goal_met'] else 'NOT met'}"
        rows.append([
            L["name"], L["op"], f"`{L['kernel']}`" if L["kernel"] else "–", _n(macs),
            _n(L["cycles"]), per(L["cycles"]),
            _f(L["floor_cycles_per_mac"]) + (f" ({L['floor_tile']})" if L["floor_tile"] else ""),
            per(L16["cycles"]) if L16 else "–",
            per(c_nofma), per(c_fma),
            f"{c_nofma / L['cycles']:.1f}×" if c_nofma and L["cycles"] else "–",
            _n(L["code_bytes"]), _n(L["weight_bytes"]), goal,
        ])
    return _table(["layer", "op", "kernel", "MACs", "cycles", "c/MAC", "floor c/MAC (tile)",
                   "f16 c/MAC", "C no-fma c/MAC", "C fma c/MAC", "speed-up", "code B",
                   "weights B", "goal"], rows, "lll" + "r" * 10 + "l")


def _elems(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# ---------------------------------------------------------------------- plot
def plot(results: dict, path: Path) -> None:
    """c/MAC of every MAC layer (f32, balanced) against its floor and goal."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, ours, floors, limits = [], [], [], []
    for m in results["models"]:
        if m["status"] != "ok":
            continue
        for L in m["f32"]["layers"]:
            if not L["macs"]:
                continue
            labels.append(f"{m['name']} / {L['name']}")
            ours.append(L["cycles_per_mac"])
            floors.append(L["floor_cycles_per_mac"])
            limits.append(L["goal_limit"])
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.24 * max(len(labels), 1)))
    y = list(range(len(labels)))[::-1]
    ax.barh(y, ours, color="#4477aa", label="ours (f32, balanced)")
    ax.scatter(floors, y, marker="|", s=220, linewidths=2.5, color="black", zorder=3,
               label="floor")
    gy = [yy for yy, g in zip(y, limits) if g is not None]
    gx = [g for g in limits if g is not None]
    ax.scatter(gx, gy, marker="x", s=40, color="#cc3311", zorder=3, label="goal")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("estimated cycles per MAC (Cortex-M4F, zero wait states)")
    ax.set_title("ML4F: cycles per MAC per layer against the floor")
    ax.axvline(2.0, color="grey", lw=0.5, ls=":")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", lw=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
