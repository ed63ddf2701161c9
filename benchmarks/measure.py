"""Measure one benchmark model: our compiled objects and the C baseline."""
from __future__ import annotations

import time

import numpy as np

import ml4f
from ml4f.emulator import Machine
from ml4f.errors import ML4FError
from ml4f.graph.ops import elems

from . import cbaseline, goals
from .floors import floor
from .models import REPO, BenchModel

OPTIMIZE_MODES = ("size", "balanced", "speed")


def _relative(path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def _compile(path, validate: bool = True, **options):
    t = time.perf_counter()
    compiled = ml4f.compile_file(path, validate=validate, **options)
    return compiled, time.perf_counter() - t


def _layers(compiled, float16: bool) -> list[dict]:
    rows = []
    for L, code in zip(compiled.report["layers"], compiled.generated.layers):
        op = code.op
        fl = floor(op, float16)
        cls = goals.layer_class(op)
        limit = goals.layer_limit(cls, float16)
        outputs = elems(op.out_shape)
        cpm = L["cycles"] / L["macs"] if L["macs"] else None
        rows.append({
            "name": L["name"], "class": L["class"], "op": L["op"], "kernel": L["kernel"],
            "input_shape": L["input_shape"], "output_shape": L["output_shape"],
            "macs": L["macs"], "effective_macs": fl.effective_macs if fl else 0,
            "cycles": L["cycles"],
            "cycles_per_mac": round(cpm, 3) if cpm is not None else None,
            "cycles_per_output": round(L["cycles"] / outputs, 3),
            "floor_cycles": round(fl.cycles) if fl else None,
            "floor_cycles_per_mac": round(fl.cycles / L["macs"], 3) if fl else None,
            "floor_tile": fl.tile if fl else None,
            "floor_tile_cycles_per_mac": round(fl.per_mac, 3) if fl else None,
            "code_bytes": L["code_bytes"], "weight_bytes": L["weight_bytes"],
            "goal_class": cls, "goal_limit": limit,
            "goal_met": None if limit is None or cpm is None else cpm <= limit,
        })
    return rows


def _winograd(path, speed) -> dict:
    """--optimize speed with Winograd convolutions where the cost model takes them,
    against the same object with direct kernels only (--winograd off): per
    convolution the kernel, cycles per (direct) MAC against the direct floor, the
    flash beyond the original weights; the whole model's cycles and bytes."""
    direct, _ = _compile(path, validate=False, optimize="speed", winograd="off")

    def convs(report):
        """Every convolution with its algorithm: the graph's, then those of streamed regions."""
        out = {L["name"]: dict(L, streamed=False) for L in report["layers"] if L.get("algorithm")}
        for r in report["arena"].get("streamed") or []:
            out.update({op["name"]: dict(op, streamed=True, kernel=None)
                        for op in r["inner"] if op.get("algorithm")})
        return out
    d_layers = convs(direct.report)
    rows = []
    for name, L in convs(speed.report).items():
        d = d_layers.get(name, {})
        rows.append({"name": name, "algorithm": L["algorithm"], "kernel": L["kernel"],
                     "streamed": L["streamed"], "macs": L["macs"], "cycles": L["cycles"],
                     "cycles_per_mac": L["cycles_per_mac"],
                     "direct_cycles_per_mac": d.get("cycles_per_mac"),
                     "floor_cycles_per_mac": L["floor_cycles_per_mac"],
                     "extra_flash_bytes": L["extra_flash_bytes"],
                     "kernel_shape": L["kernel_shape"], "strides": L["strides"],
                     "dilation": L["dilation"]})
    t, dt = speed.report["totals"], direct.report["totals"]
    return {"layers": rows, "cycles": t["cycles"], "direct_cycles": dt["cycles"],
            "ratio": round(t["cycles"] / dt["cycles"], 3),
            "object_bytes": t["object_bytes"], "direct_object_bytes": dt["object_bytes"],
            "arena_bytes": speed.report["arena"]["arena_bytes"],
            "direct_arena_bytes": direct.report["arena"]["arena_bytes"]}


def _summary(compiled, seconds: float, float16: bool, with_layers: bool = True) -> dict:
    r = compiled.report
    t, a = r["totals"], r["arena"]
    layers = _layers(compiled, float16)
    floors = [L["floor_cycles"] for L in layers if L["floor_cycles"] is not None]
    out = {
        "cycles": t["cycles"],
        "cycles_per_mac": t["cycles_per_mac"],
        "overhead_cycles": t["overhead_cycles"],
        "floor_cycles": sum(floors) if floors else None,
        "mac_layer_cycles": sum(L["cycles"] for L in layers if L["floor_cycles"] is not None),
        "code_bytes": t["code_bytes"],
        "weight_bytes": t["weight_bytes"],
        "arena_bytes": a["arena_bytes"],
        "arena_lower_bound": a["lower_bound"],
        "arena_op_by_op": a.get("op_by_op_bound"),
        "arena_peak_op": (a.get("peak") or {}).get("op"),
        "streamed_regions": len(a.get("streamed") or []),
        "object_bytes": t["object_bytes"],
        "stack_bytes": t["stack_bytes"],
        "compile_seconds": round(seconds, 3),
        "validation_max_error": r["validation"]["max_error"],
    }
    if with_layers:
        out["layers"] = layers
    return out


def _baseline(compiled, ours_cycles: int, layer_cycles: list[int]) -> dict:
    """The C baseline of the f32 object's graph, fed the input the compiler profiles with."""
    graph = compiled.graph
    x = np.random.default_rng(0).standard_normal(graph.input_shape).astype(np.float32)
    expected = Machine(compiled.object).run(x).output
    try:
        variants = cbaseline.measure(graph, x, expected)
    except (cbaseline.NotInBaseline, cbaseline.ToolchainMissing, RuntimeError) as e:
        return {"status": "not available", "error": str(e)}
    ok = all(v["outputs_equal"] and v["reference_ok"] for v in variants.values())
    return {
        "status": "ok" if ok else "outputs differ",
        "variants": variants,
        "speedup": {name: round(v["cycles"] / ours_cycles, 3) for name, v in variants.items()},
        "layer_speedup": {name: [round(c / o, 3) if o else None
                                 for c, o in zip(v["layer_cycles"], layer_cycles)]
                          for name, v in variants.items()},
    }


def measure(model: BenchModel, quick: bool = False, log=print) -> dict:
    """Everything the report shows for one model.  A model the compiler refuses is
    reported with its error (status "compile error") instead of failing the run."""
    entry = {"name": model.name, "description": model.description,
             "path": _relative(model.path)}
    if not model.path.exists():
        entry.update(status="missing", error=f"{model.path} not found")
        return entry
    try:
        c32, s32 = _compile(model.path)
    except ML4FError as e:                   # the compiler refuses the model: report it
        entry.update(status="compile error", error=str(e).replace(f"{REPO}/", ""))
        log(f"  {model.name}: compile error: {entry['error']}")
        return entry
    except Exception as e:                   # a compiler bug: report it, measure the others
        entry.update(status="internal error", error=f"{type(e).__name__}: {e}")
        log(f"  {model.name}: internal error: {entry['error']}")
        return entry
    entry["status"] = "ok"
    entry["macs"] = c32.report["totals"]["macs"]
    entry["has_conv"] = any(op.kind in ("conv2d", "depthwise") for op in c32.graph.ops)
    entry["f32"] = _summary(c32, s32, False)
    log(f"  {model.name}: f32 {entry['f32']['cycles']:,} cycles ({s32:.2f} s)")

    c16, s16 = _compile(model.path, float16=True)
    entry["f16"] = _summary(c16, s16, True)
    log(f"  {model.name}: f16 {entry['f16']['cycles']:,} cycles ({s16:.2f} s)")

    _, entry["unvalidated_seconds"] = _compile(model.path, validate=False)
    entry["unvalidated_seconds"] = round(entry["unvalidated_seconds"], 3)

    # the same model op by op (no region streamed) with the direct kernels the regions
    # run: the cycles streaming costs (Winograd, which layers outside regions may take,
    # has its own table against direct-only objects)
    op_by_op, secs = _compile(model.path, validate=False, arena_goal="fast", winograd="off")
    entry["op_by_op"] = _summary(op_by_op, secs, False)
    if any(L["op"] == "stream" for L in entry["f32"]["layers"] + entry["f16"]["layers"]):
        c, secs = _compile(model.path, validate=False, arena_goal="fast", float16=True,
                           winograd="off")
        entry["op_by_op_f16"] = _summary(c, secs, True)

    entry["optimize"] = {}
    for mode in OPTIMIZE_MODES:
        if mode == "balanced":
            summary = {k: v for k, v in entry["f32"].items() if k != "layers"}
        elif quick:
            continue
        else:
            compiled, secs = _compile(model.path, optimize=mode)
            summary = _summary(compiled, secs, False, with_layers=False)
            if mode == "speed":
                entry["winograd"] = _winograd(model.path, compiled)
        entry["optimize"][mode] = summary

    t = time.perf_counter()
    # the C baseline runs the graph op by op (it has no streamed regions)
    entry["baseline"] = _baseline(op_by_op, entry["f32"]["cycles"],
                                  [L["cycles"] for L in op_by_op.report["layers"]])
    b = entry["baseline"]
    if b["status"] == "not available":
        log(f"  {model.name}: C baseline not available: {b['error']}")
    else:
        log(f"  {model.name}: C baseline {b['variants'][goals.BASELINE]['cycles']:,} cycles, "
            f"{b['status']} ({time.perf_counter() - t:.2f} s)")
    return entry
