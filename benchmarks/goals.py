"""The goals the benchmark reports against, and their evaluation on a run's results."""
from __future__ import annotations

LENET = "lenet"
LENET_CYCLES = 560_000
LENET_SPEEDUP = 2.5
LENET_COMPILE_SECONDS = 0.5
# model -> (seconds with validation, seconds without or None): compile time in a warm process
COMPILE_SECONDS = {"lenet": (LENET_COMPILE_SECONDS, None), "resnet8": (10.0, 4.0)}
CODE_PER_WEIGHT = 2.0
BASELINE = "no-fma"          # the C baseline variant the speed-up goal is measured against

DENSE_LARGE_MACS = 1_000    # dense layers with this many MACs have the float16 goal too
# layer class -> (description, limit in c/MAC for f32, for f16 or None when the goal is f32 only)
LAYER_GOALS = {
    "conv": ("Conv layers (3×3 and larger, ≥ 8 input channels)", 2.8, None),
    "pointwise": ("Pointwise 1×1 convolutions", 3.0, None),
    "depthwise": ("Depthwise 3×3 convolutions, stride 1", 3.4, None),
    "depthwise_s2": ("Depthwise 3×3 convolutions, stride 2", 3.6, None),
    "dense": ("Dense layers (< 1,000 MACs)", 3.3, None),
    "dense_large": ("Dense layers (≥ 1,000 MACs)", 3.3, 3.7),
    # 1.3x the conv goal, per useful MAC (the products that land in the output)
    "conv_transpose": ("Transposed convolutions (per useful MAC)", 3.64, None),
}


def layer_class(op) -> str | None:
    """Which layer goal applies to an op, if any.  1-D convolutions (H = 1) count by
    their kernel length: 3 taps and more are "conv".  "≥ 8 channels" is read as
    input channels, the depth of the reduction per tap: first layers on 1-3
    channel images have only 9-27 MACs per output, and per-output costs (bias,
    store) set their floor near 2.8 already (see README's floors)."""
    if op.kind == "conv2d":
        kh, kw, cin, _ = op.kernel.shape
        if (kh, kw) == (1, 1):
            return "pointwise"
        one_d = len(op.in_shape) == 2            # (W, C): a Conv1D
        big = kw >= 3 if one_d else (kh >= 3 and kw >= 3)
        return "conv" if big and cin >= 8 else None
    if op.kind == "depthwise":
        if tuple(op.kernel.shape[:2]) != (3, 3):
            return None
        return "depthwise_s2" if max(op.strides) == 2 else "depthwise" if max(op.strides) == 1 else None
    if op.kind == "dense":
        return "dense_large" if op.macs() >= DENSE_LARGE_MACS else "dense"
    if op.kind == "conv_transpose":
        return "conv_transpose"
    return None


def layer_limit(cls: str | None, float16: bool) -> float | None:
    if cls is None:
        return None
    _, f32, f16 = LAYER_GOALS[cls]
    return f16 if float16 else f32


def kernel_layers(m: dict, precision: str) -> list[dict]:
    """The layers whose kernels the per-layer goals measure: of the op-by-op object
    where the default one streams a region (a region is one op there)."""
    layers = m[precision]["layers"]
    if any(L["op"] == "stream" for L in layers):
        alt = m.get("op_by_op" if precision == "f32" else "op_by_op_f16", {})
        return alt.get("layers", layers)
    return layers


def _floor_note(layer: dict) -> str:
    """The layer's floor (ml4f/floors.py), where it has one."""
    floor = layer.get("floor_cycles_per_mac")
    return f", floor {floor:.2f}" if floor else ""


def evaluate(models: list[dict]) -> list[dict]:
    """One row per goal: what was measured, the limit, and whether it is met
    (None: not measurable in this run, e.g. the model is not part of it)."""
    rows = []
    ok = [m for m in models if m.get("status") == "ok"]

    for cls, (text, f32, f16) in LAYER_GOALS.items():
        for precision, limit in (("f32", f32), ("f16", f16)):
            if limit is None:
                continue
            layers = [(m["name"], L) for m in ok for L in kernel_layers(m, precision)
                      if L["goal_class"] == cls]
            if not layers:
                rows.append(_row(f"{text}, {precision}: ≤ {limit} c/MAC", "no such layer", limit,
                                 None))
                continue
            worst_model, worst = max(layers, key=lambda t: t[1]["cycles_per_mac"])
            met = sum(1 for _, L in layers if L["cycles_per_mac"] <= limit)
            rows.append(_row(f"{text}, {precision}: ≤ {limit} c/MAC",
                             f"{met} of {len(layers)} layers; worst {worst['cycles_per_mac']:.3f} "
                             f"({worst_model}/{worst['name']}{_floor_note(worst)})",
                             limit, met == len(layers)))

    lenet = next((m for m in ok if m["name"] == LENET), None)
    if lenet is None:
        for text in ("LeNet-like CNN, f32: cycles", "LeNet-like CNN: speed-up over the C baseline"):
            rows.append(_row(text, "not measured", None, None))
    else:
        f32 = lenet["f32"]
        rows.append(_row(f"LeNet-like CNN, f32: ≤ {LENET_CYCLES:,} cycles",
                         f"{f32['cycles']:,} cycles ({f32['cycles_per_mac']:.3f} c/MAC)",
                         LENET_CYCLES, f32["cycles"] <= LENET_CYCLES))
        speedup = (lenet.get("baseline") or {}).get("speedup", {}).get(BASELINE)
        rows.append(_row(f"LeNet-like CNN: ≥ {LENET_SPEEDUP}× faster than the C baseline "
                         f"(-O3, {BASELINE})",
                         "baseline not available" if speedup is None else f"{speedup:.2f}×",
                         LENET_SPEEDUP, None if speedup is None else speedup >= LENET_SPEEDUP))

    for name, (validated, plain) in COMPILE_SECONDS.items():
        m = next((m for m in ok if m["name"] == name), None)
        for limit, secs, how in ((validated, m and m["f32"]["compile_seconds"], "with validation"),
                                 (plain, m and m.get("unvalidated_seconds"), "without validation")):
            if limit is None:
                continue
            text = f"{name}: compile {how} ≤ {limit} s"
            rows.append(_row(text, "not measured", limit, None) if secs is None else
                        _row(text, f"{secs:.2f} s", limit, secs <= limit))

    arena = [(m["name"], v, m[v]) for m in ok for v in ("f32", "f16")]
    arena += [(m["name"], f"f32 --optimize {o}", r) for m in ok
              for o, r in m.get("optimize", {}).items()]
    over = [f"{n} ({v}): {r['arena_bytes']:,} > {r['arena_lower_bound']:,}"
            for n, v, r in arena if r["arena_bytes"] > r["arena_lower_bound"]]
    rows.append(_row("Arena never above the planner's lower bound",
                     "; ".join(over) if over else f"at the bound in all {len(arena)} objects",
                     None, not over))

    conv_models = [m for m in ok if m.get("has_conv")]
    fat = []
    checked = 0
    for m in conv_models:
        for mode, r in m.get("optimize", {}).items():
            if mode == "speed":
                continue                    # --optimize speed may trade code size for speed
            checked += 1
            if r["code_bytes"] > CODE_PER_WEIGHT * r["weight_bytes"]:
                fat.append(f"{m['name']} ({mode}): {r['code_bytes']:,} B code, "
                           f"{r['weight_bytes']:,} B weights")
    rows.append(_row(f"Code bytes ≤ {CODE_PER_WEIGHT:g}× weight bytes on conv models "
                     "(--optimize size and balanced)",
                     "; ".join(fat) if fat else f"met in all {checked} objects",
                     CODE_PER_WEIGHT, not fat if checked else None))
    return rows + winograd_goals(ok) + memory_goals(ok)


#: --optimize speed with Winograd convolutions against the same object with direct kernels
#: only (--winograd off), compiled in the same run: whole-model cycles at most this factor
WINOGRAD_RATIOS = {"cifar_cnn": 0.68, "resnet8": 0.71, "gesture_conv1d": 0.82}
LENET_SPEED_CYCLES = 435_000           # the LeNet-like CNN in --optimize speed
WINOGRAD_LAYER = 1.5                   # c/MAC (direct MACs) of 3x3 stride-1 convs, >= 16 channels
WINOGRAD_LAYER_CHANNELS = 16


def winograd_goals(ok: list[dict]) -> list[dict]:
    rows = []
    for name, limit in WINOGRAD_RATIOS.items():
        w = next((m.get("winograd") for m in ok if m["name"] == name), None)
        text = f"{name}: --optimize speed ≤ {limit}× the direct-only object's cycles"
        rows.append(_row(text, "not measured", limit, None) if not w else _row(
            text, f"{w['cycles']:,} vs {w['direct_cycles']:,} ({w['ratio']:.3f}×), arena "
                  f"{w['direct_arena_bytes']:,} → {w['arena_bytes']:,} B", limit,
            w["ratio"] <= limit))
    lenet = next((m for m in ok if m["name"] == LENET), None)
    speed = (lenet or {}).get("optimize", {}).get("speed")
    text = f"LeNet-like CNN, f32 --optimize speed: ≤ {LENET_SPEED_CYCLES:,} cycles"
    rows.append(_row(text, "not measured", LENET_SPEED_CYCLES, None) if not speed else _row(
        text, f"{speed['cycles']:,} cycles", LENET_SPEED_CYCLES, speed["cycles"] <= LENET_SPEED_CYCLES))
    layers = [(m["name"], L) for m in ok for L in (m.get("winograd") or {}).get("layers", [])
              if L["kernel_shape"][:2] == [3, 3] and L["strides"] == [1, 1]
              and L["dilation"] == [1, 1]
              and min(L["kernel_shape"][2:]) >= WINOGRAD_LAYER_CHANNELS]
    text = (f"3×3 stride-1 convs with ≥ {WINOGRAD_LAYER_CHANNELS} input and output channels, "
            f"--optimize speed: ≤ {WINOGRAD_LAYER} c/MAC")
    if not layers:
        rows.append(_row(text, "no such layer", WINOGRAD_LAYER, None))
    else:
        met = [L for _, L in layers if L["cycles_per_mac"] <= WINOGRAD_LAYER]
        worst_model, worst = max(layers, key=lambda t: t[1]["cycles_per_mac"])
        rows.append(_row(text, f"{len(met)} of {len(layers)} layers; worst "
                               f"{worst['cycles_per_mac']:.3f} ({worst_model}/{worst['name']}, "
                               f"{worst['algorithm']})", WINOGRAD_LAYER, len(met) == len(layers)))
    return rows


#: MLPerf Tiny models: arena goals in float32 (bytes)
ARENA_GOALS = {"resnet8": 98_304, "mobilenet_vww": 131_072, "ds_cnn": 48_000}
STREAM_CYCLES = 1.10          # streaming may cost this factor of the op-by-op cycles
STREAM_COMPILE = 1.25         # ... and this factor of its compile time (both without validation)
F16_CODE = 1.10               # float16 code at most this factor of float32 code
F16_OBJECT = {"ad_autoencoder": 0.52}


def memory_goals(ok: list[dict]) -> list[dict]:
    rows = []
    for name, limit in ARENA_GOALS.items():
        m = next((m for m in ok if m["name"] == name), None)
        if m is None:
            rows.append(_row(f"{name}: arena ≤ {limit:,} B", "not measured", limit, None))
            continue
        f32 = m["f32"]
        rows.append(_row(f"{name}: arena ≤ {limit:,} B (float32)",
                         f"{f32['arena_bytes']:,} B (op by op {f32['arena_op_by_op']:,} B; peak "
                         f"at {f32['arena_peak_op']})", limit, f32["arena_bytes"] <= limit))
        if "op_by_op" in m:
            ratio = f32["cycles"] / m["op_by_op"]["cycles"]
            rows.append(_row(f"{name}: cycles ≤ {STREAM_CYCLES:.2f}× the op-by-op object",
                             f"{f32['cycles']:,} vs {m['op_by_op']['cycles']:,} ({ratio:.3f}×)",
                             STREAM_CYCLES, ratio <= STREAM_CYCLES))
            plain, fast = m.get("unvalidated_seconds"), m["op_by_op"]["compile_seconds"]
            if plain is not None and fast:
                ratio = plain / fast
                rows.append(_row(f"{name}: compile time ≤ {STREAM_COMPILE:.2f}× the op-by-op "
                                 "object's (both without validation, same run)",
                                 f"{plain:.2f} s vs {fast:.2f} s ({ratio:.2f}×)", STREAM_COMPILE,
                                 ratio <= STREAM_COMPILE))
    grown = [f"{m['name']}: {m['f16']['code_bytes']:,} vs {m['f32']['code_bytes']:,}"
             for m in ok if m["f16"]["code_bytes"] > F16_CODE * m["f32"]["code_bytes"]]
    rows.append(_row(f"float16 code ≤ {F16_CODE:.1f}× float32 code on every model",
                     "; ".join(grown) if grown else f"met on all {len(ok)} models", F16_CODE,
                     not grown if ok else None))
    for name, limit in F16_OBJECT.items():
        m = next((m for m in ok if m["name"] == name), None)
        if m is None:
            rows.append(_row(f"{name}: float16 object ≤ {limit}× float32", "not measured", limit, None))
            continue
        ratio = m["f16"]["object_bytes"] / m["f32"]["object_bytes"]
        rows.append(_row(f"{name}: float16 object ≤ {limit}× float32",
                         f"{m['f16']['object_bytes']:,} / {m['f32']['object_bytes']:,} B = {ratio:.3f}",
                         limit, ratio <= limit))
    return rows


def _row(goal: str, measured: str, limit, met) -> dict:
    return {"goal": goal, "measured": measured, "limit": limit, "met": met}
