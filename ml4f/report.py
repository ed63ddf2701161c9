"""The compile report (NAME.json) and the short human summary."""
from __future__ import annotations

from . import __version__
from .codegen import layer_cycles
from .floors import floor


def _plan_text(plan) -> str | None:
    if plan is None:
        return None
    fields = getattr(plan, "__dataclass_fields__", None)
    if not fields:
        return str(plan)
    return " ".join(f"{k}={getattr(plan, k)}" for k in fields)


def build_report(model, graph, gen, arena, header, cycles, options, errors, stack, content,
                 memory=None) -> dict:
    layers = []
    for i, L in enumerate(gen.layers):
        op = L.op
        macs = op.macs()
        cyc = layer_cycles(cycles, i, L)
        fl = floor(op, options.float16)
        layers.append({
            "name": op.name,
            "class": op.layer_class,
            "op": op.kind,
            "input_shape": list(op.in_shape),
            "output_shape": list(op.out_shape),
            "activation": getattr(getattr(op, "activation", None), "kind", None),
            "macs": macs,
            "code_bytes": L.end - L.start,
            "weight_bytes": L.weight_bytes,
            "cycles": cyc,
            "cycles_per_mac": round(cyc / macs, 3) if macs else None,
            "floor_cycles_per_mac": round(fl.cycles / macs, 3) if fl else None,
            "kernel": _plan_text(L.plan),
            **_algorithm(op, options.float16),
            "max_error": errors.get(op.name),
        })
    total_macs = sum(L["macs"] for L in layers)
    total_cycles = cycles["total"]
    code_bytes = header.weights_offset - header.header_size
    weight_bytes = len(gen.weights)
    model_size = header.test_input_offset or header.object_size
    return {
        "compiler": f"ml4f {__version__}",
        "model": model.path,
        "model_name": model.name,
        "keras_version": model.keras_version,
        "content_hash": content,
        "options": options.signature() | {"validate": options.validate},
        "input_shape": list(graph.input_shape),
        "output_shape": list(graph.output_shape),
        "layers": layers,
        "totals": {
            "macs": total_macs,
            "cycles": total_cycles,
            "cycles_per_mac": round(total_cycles / total_macs, 3) if total_macs else None,
            "overhead_cycles": cycles.get("other", 0),
            "ms_at_mhz": round(total_cycles / (options.mhz * 1e3), 4),
            "mhz": options.mhz,
            "code_bytes": code_bytes,
            "weight_bytes": weight_bytes,
            "header_bytes": header.header_size,
            "model_bytes": model_size,
            "object_bytes": header.object_size,
            "file_bytes": -(-header.object_size // 16) * 16,
            "stack_bytes": stack,
        },
        "arena": _arena(arena, memory, gen, cycles, options),
        "validation": {"enabled": options.validate, "tolerance": 1e-5,
                       "bound": errors.get(MODEL_BOUND, 1e-5) if errors else None,
                       "max_error": errors.get("model"),
                       "layers": len([k for k in errors if k not in ("model", MODEL_BOUND)])},
        "cycle_model": "static Cortex-M4F estimate over the emulated run (zero wait states)",
    }


def _algorithm(op, float16: bool) -> dict:
    """For a convolution: direct or Winograd, and the flash its weights take
    beyond the original kernel (the transformed weights are 16/9 of it in 2-D);
    for a streamed region, its Winograd convolutions' extra flash."""
    if op.kind == "stream":
        extra = sum(_extra_flash(inner, float16) for inner in op.ops if inner.kind == "winograd")
        return {"extra_flash_bytes": extra} if extra else {}
    if op.kind == "winograd":
        return {"algorithm": "winograd", "extra_flash_bytes": _extra_flash(op, float16),
                **_conv_geometry(op)}
    if op.kind == "conv2d":
        return {"algorithm": "direct", "extra_flash_bytes": 0, **_conv_geometry(op)}
    return {}


def _conv_geometry(op) -> dict:
    return {"kernel_shape": [int(d) for d in op.kernel.shape],
            "strides": [int(s) for s in op.strides], "dilation": [int(d) for d in op.dilation]}


def _extra_flash(op, float16: bool) -> int:
    """The weights of a Winograd convolution as laid out, beyond the original kernel's."""
    from .kernels.conv_geometry import Geometry
    from .kernels.winograd_plan import plan_of, weight_bytes
    kernel = (2 if float16 else 4) * op.kernel.size
    bias = 4 * op.kernel.shape[-1]
    return weight_bytes(Geometry.of(op), plan_of(op), float16) - kernel - bias


def _inner(op, cycles: int, float16: bool) -> dict:
    """An op of a streamed region: its kernel, cycles and (a convolution) algorithm."""
    macs = op.macs()
    fl = floor(op, float16)
    out = {"name": op.name, "op": op.kind, "macs": macs, "cycles": cycles,
           "cycles_per_mac": round(cycles / macs, 3) if macs else None,
           "floor_cycles_per_mac": round(fl.cycles / macs, 3) if fl and macs else None}
    return {**out, **_algorithm(op, float16)}


def _arena(arena, memory, gen, cycles, options) -> dict:
    """The arena plan, and where the memory goes: the op at the peak and the
    buffers alive there, the bound of whole tensors op by op, the streamed
    regions (their rings and the cycles they run)."""
    out = arena.as_dict()
    if memory is None:
        return out
    out["op_by_op_bound"] = memory.whole_tensors
    out["goal"] = options.arena_goal
    out["budget"] = options.max_arena
    out["smallest_bound"] = memory.smallest
    out["peak"] = {"op": memory.peak.op, "bytes": memory.peak.bytes,
                   "buffers": list(memory.peak.tensors)}
    streamed = []
    for i, L in enumerate(gen.layers):
        if L.op.kind != "stream":
            continue
        sched = L.op.schedule
        streamed.append({
            "name": L.op.name,
            "ops": [op.name for op in L.op.ops],
            "inner": [_inner(op, cycles.get(f"{i}.{k}", 0), options.float16)
                      for k, op in enumerate(L.op.ops)],
            "steps": len(sched.steps),
            "rings": {t: {"rows": r.rows, "repeated_rows": r.mirror, "bytes": r.bytes}
                      for t, r in sched.rings.items()},
            "scratch_bytes": sched.scratch_bytes,
            "cycles": layer_cycles(cycles, i, L),
        })
    out["streamed"] = streamed
    return out
#: key of `errors` holding the allowance applied at the model's worst element
MODEL_BOUND = "model:bound"


def bound_text(validation: dict) -> str:
    """The bound the validation applied: the tolerance, or the wider allowance used where
    float32 rounding alone moves the reference further than the tolerance."""
    tolerance, bound = validation["tolerance"], validation.get("bound") or validation["tolerance"]
    if bound <= tolerance:
        return f"tolerance {tolerance:g}"
    return f"bound {bound:.2g}, the tolerance {tolerance:g} widened for float32 rounding"


def summary(report: dict, name: str) -> str:
    t = report["totals"]
    a = report["arena"]
    lines = [
        f"{name}: {report['model']} ({len(report['layers'])} ops, {t['macs']:,} MACs)",
        f"  code {t['code_bytes']:,} B, weights {t['weight_bytes']:,} B, object {t['file_bytes']:,} B; "
        f"arena {a['arena_bytes']:,} B (op-by-op {a['op_by_op_bound']:,} B); stack {t['stack_bytes']} B",
        f"  estimated {t['cycles']:,} cycles ({t['ms_at_mhz']:.3f} ms at {t['mhz']:g} MHz)"
        + (f", {t['cycles_per_mac']} cycles/MAC" if t["cycles_per_mac"] else ""),
    ]
    wino = [L for L in report["layers"] if L.get("algorithm") == "winograd"]
    wino += [op for r in (a.get("streamed") or []) for op in r["inner"]
             if op.get("algorithm") == "winograd"]
    if wino:
        lines.append(f"  Winograd convolutions: {', '.join(L['name'] for L in wino)} "
                     f"(+{sum(L['extra_flash_bytes'] for L in wino):,} B of weights)")
    v = report["validation"]
    if v["enabled"]:
        lines.append(f"  validated in the emulator: max error {v['max_error']:.2g} ({bound_text(v)})")
    else:
        lines.append("  not validated (--no-validate)")
    return "\n".join(lines)
