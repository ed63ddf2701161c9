"""NAME.html: the compile report (NAME.json) as one self-contained page.

No scripts, fonts or links to anything outside the file: inline CSS and SVG
only, so it opens offline, on a phone (tables scroll sideways, charts scale)
and on paper (print styles).  Built from the report dict alone, so it can be
rendered from a NAME.json written earlier.  The bytes depend only on the
report(s): no timestamps, fixed number formats, no dict-order surprises.

    render(report, name)                       # one weight type
    render(report, name, other=other_report)   # float32 beside float16
"""
from __future__ import annotations

from html import escape

# Colours of the layer bars by op kind (others: grey); chosen to print legibly in greyscale.
OP_COLOURS = {"conv2d": "#2b6cb0", "depthwise": "#4c9ed9", "dense": "#2f855a",
              "pool2d": "#d69e2e", "global_pool": "#d69e2e", "softmax": "#9f7aea"}
OTHER_COLOUR = "#a0aec0"
FLASH_PARTS = (("header", "header_bytes", "#718096"), ("code", "code_bytes", "#2b6cb0"),
               ("weights", "weight_bytes", "#2f855a"), ("test data", "test_bytes", "#d69e2e"),
               ("padding", "padding_bytes", "#e2e8f0"))

CSS = """
:root{--fg:#1a202c;--muted:#5a6473;--line:#d5dbe3;--bg:#fff;--head:#f3f5f8}
*{box-sizing:border-box}
body{margin:0 auto;max-width:82rem;padding:1rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.6rem 0 .5rem;
border-bottom:1px solid var(--line);padding-bottom:.2rem}
p.meta{color:var(--muted);margin:.2rem 0;word-break:break-all}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr));gap:.5rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.45rem .6rem}
.card b{display:block;font-size:1.15rem}.card span{color:var(--muted);font-size:.85rem}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid var(--line);padding:.25rem .45rem;text-align:right;
white-space:nowrap;vertical-align:top}
th{background:var(--head);position:sticky;top:0}
td.t,th.t{text-align:left}td.k{white-space:normal;min-width:11rem;font-family:ui-monospace,
"DejaVu Sans Mono",monospace;font-size:.78rem}
tr.total td{font-weight:600}
svg{max-width:100%;height:auto;display:block}svg text{font-size:11px;fill:var(--fg)}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-.1rem}
.note{color:var(--muted);font-size:.85rem}
@media print{body{max-width:none;padding:0;font-size:10pt}th{position:static}
.scroll{overflow:visible}section{break-inside:avoid}}
"""


def _n(v) -> str:
    return "–" if v is None else f"{v:,}"


def _f(v, digits: int = 3) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _shape(s) -> str:
    return "×".join(str(d) for d in s)


def _weights(report: dict) -> str:
    return "float16" if report["options"]["float16"] else "float32"


def flash_parts(report: dict) -> dict:
    """Flash bytes of the object file by part (they add up to file_bytes)."""
    t = report["totals"]
    return {"header_bytes": t["header_bytes"], "code_bytes": t["code_bytes"],
            "weight_bytes": t["weight_bytes"], "test_bytes": t["object_bytes"] - t["model_bytes"],
            "padding_bytes": t["file_bytes"] - t["header_bytes"] - t["code_bytes"]
            - t["weight_bytes"] - (t["object_bytes"] - t["model_bytes"])}


def live_bytes(arena: dict) -> list[tuple[int, int, list[str]]]:
    """(step, bytes live, tensors live) for every step of the plan; tensors that
    share another's buffer count once, an output written over its input behind
    the read front saves what the pair overlaps.  The peak plus the reserved
    words is the plan's lower bound."""
    tensors = arena["tensors"]
    if not tensors:
        return []
    first = min(t["first_step"] for t in tensors)
    last = max(t["last_step"] for t in tensors)
    saved: dict[int, int] = {}
    for pair in arena.get("pairs", []):
        saved[pair["step"]] = saved.get(pair["step"], 0) + pair["saved_bytes"]
    rows = []
    for s in range(first, last + 1):
        live = [t for t in tensors if t["first_step"] <= s <= t["last_step"]]
        owned = sum(t["bytes"] for t in live if "buffer" not in t) - saved.get(s, 0)
        rows.append((s, owned, [t["tensor"] for t in live]))
    return rows


# ------------------------------------------------------------------- sections

def _summary(report: dict, name: str) -> str:
    t, a, v = report["totals"], report["arena"], report["validation"]
    cards = [
        ("flash", f"{t['file_bytes']:,} B", f"{_weights(report)} weights"),
        ("arena (RAM)", f"{a['arena_bytes']:,} B",
         f"op-by-op {a.get('op_by_op_bound', a['lower_bound']):,} B"),
        ("stack", f"{t['stack_bytes']:,} B", "measured in the emulator"),
        ("cycles", f"{t['cycles']:,}", "Cortex-M4F estimate"),
        ("time", f"{t['ms_at_mhz']:.3f} ms", f"at {t['mhz']:g} MHz"),
        ("cycles / MAC", _f(t["cycles_per_mac"]), f"{t['macs']:,} MACs"),
        ("validation", "–" if not v["enabled"] else f"{v['max_error']:.2g}",
         "not validated" if not v["enabled"] else f"max error (tolerance {v['tolerance']:g})"),
    ]
    body = "".join(f'<div class="card" data-key="{escape(k)}"><span>{escape(k)}</span>'
                   f"<b>{escape(val)}</b><span>{escape(sub)}</span></div>" for k, val, sub in cards)
    return f'<section id="summary"><h2>Summary</h2><div class="cards">{body}</div></section>'


LAYER_COLUMNS = ("#", "layer", "op", "kernel", "input", "output", "MACs", "cycles", "% cycles",
                 "c/MAC", "floor c/MAC", "code B", "weight B")


def layer_cells(i: int, L: dict, total_cycles: int) -> list[str]:
    """The text of one row of the layer table (the browser test reads it back)."""
    share = 100.0 * L["cycles"] / total_cycles if total_cycles else 0.0
    act = L.get("activation")
    op = L["op"] + (f" + {act}" if act and act != "linear" else "")
    return [str(i), L["name"], f"{op} ({L['class']})", L["kernel"] or "–",
            _shape(L["input_shape"]), _shape(L["output_shape"]), _n(L["macs"]), _n(L["cycles"]),
            f"{share:.1f}", _f(L["cycles_per_mac"]), _f(L.get("floor_cycles_per_mac")),
            _n(L["code_bytes"]), _n(L["weight_bytes"]) + (
                f" (+{_n(L['extra_flash_bytes'])} Winograd)" if L.get("algorithm") == "winograd"
                else "")]


def _layers(report: dict) -> str:
    t = report["totals"]
    total = t["cycles"]
    left = {1, 2, 3}
    head = "".join(f'<th class="t">{c}</th>' if k in left else f"<th>{c}</th>"
                   for k, c in enumerate(LAYER_COLUMNS))
    rows = []
    for i, L in enumerate(report["layers"]):
        cells = layer_cells(i, L, total)
        tds = "".join(f'<td class="{"t k" if k == 3 else "t"}">{escape(c)}</td>' if k in left
                      else f"<td>{escape(c)}</td>" for k, c in enumerate(cells))
        rows.append(f'<tr data-layer="{i}">{tds}</tr>')
    overhead = t["overhead_cycles"]
    rows.append(f'<tr class="total"><td></td><td class="t">call overhead</td><td class="t"></td>'
                f'<td class="k"></td><td></td><td></td><td></td><td>{_n(overhead)}</td>'
                f'<td>{100.0 * overhead / total if total else 0:.1f}</td>'
                "<td></td><td></td><td></td><td></td></tr>")
    rows.append(f'<tr class="total"><td></td><td class="t">total</td><td class="t"></td>'
                f'<td class="k"></td><td></td><td></td><td>{_n(t["macs"])}</td>'
                f'<td>{_n(total)}</td><td>100.0</td><td>{_f(t["cycles_per_mac"])}</td><td></td>'
                f'<td>{_n(t["code_bytes"])}</td><td>{_n(t["weight_bytes"])}</td></tr>')
    note = ('<p class="note">c/MAC: estimated cycles per multiply-accumulate; floor: the '
            "Cortex-M4F's limit for the layer's shape with the best register tile "
            "(arithmetic plus operand loads, zero wait states).</p>")
    return (f'<section id="layers"><h2>Layers</h2><div class="scroll"><table id="layer-table">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
            f"{note}{_cycle_chart(report)}</section>")


def _cycle_chart(report: dict) -> str:
    """Horizontal bars: where the cycles go, one bar per layer."""
    items = [(L["name"], L["cycles"], OP_COLOURS.get(L["op"], OTHER_COLOUR))
             for L in report["layers"]]
    items.append(("call overhead", report["totals"]["overhead_cycles"], OTHER_COLOUR))
    total = max(report["totals"]["cycles"], 1)
    biggest = max((c for _, c, _ in items), default=1) or 1
    width, label_w, row = 640, 170, 18
    bar_w = width - label_w - 110
    height = row * len(items) + 6
    parts = [f'<svg id="cycle-chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="cycles per layer">']
    for k, (label, cyc, colour) in enumerate(items):
        y = 3 + k * row
        w = bar_w * cyc / biggest
        short = label if len(label) <= 24 else label[:23] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(short)}</text>'
                     f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" '
                     f'fill="{colour}"><title>{escape(label)}: {cyc:,} cycles</title></rect>'
                     f'<text x="{label_w + w + 4:.1f}" y="{y + 12}">{cyc:,} '
                     f"({100.0 * cyc / total:.1f}%)</text>")
    parts.append("</svg>")
    return f"<h3>Where the cycles go</h3><div class=\"scroll\">{''.join(parts)}</div>"


def _arena(report: dict) -> str:
    a = report["arena"]
    steps = live_bytes(a)
    reserved = a.get("reserved_bytes", 0)
    peak = max((b for _, b, _ in steps), default=0)
    peak_steps = [s for s, b, _ in steps if b == peak]
    created = {}
    for t in a["tensors"]:
        created.setdefault(t["first_step"], []).append(t["tensor"])
    rows = []
    for s, b, live in steps:
        what = "input" if s < 0 else ("output read by the caller" if s >= len(report["layers"])
                                      else report["layers"][s]["name"])
        mark = ' class="total"' if b == peak else ""
        rows.append(f"<tr{mark}><td>{s}</td><td class=\"t\">{escape(what)}</td>"
                    f"<td class=\"t k\">{escape(', '.join(live))}</td><td>{b + reserved:,}</td></tr>")
    table = ('<div class="scroll"><table id="arena-table"><thead><tr><th>step</th>'
             '<th class="t">op</th><th class="t">live tensors</th><th>bytes live</th></tr></thead>'
             f"<tbody>{''.join(rows)}</tbody></table></div>")
    text = (f"<p>Arena {a['arena_bytes']:,} B; its lower bound (the most bytes live at any "
            f"step, {reserved} reserved bytes included; outputs written over their input "
            f"behind the read front count once) is {a['lower_bound']:,} B, reached at step "
            f"{', '.join(str(s) for s in peak_steps)}"
            + (f" (op {escape(a['peak']['op'])})" if a.get("peak") else "")
            + f". Whole tensors op by op would need {a.get('op_by_op_bound', a['lower_bound']):,} B."
            f" Placement: {escape(a['method'])}.</p>" + _streamed(a))
    return (f'<section id="arena"><h2>Arena over time</h2>{text}{_arena_chart(a, steps)}'
            f"{table}</section>")


def _streamed(a: dict) -> str:
    """The streamed regions: their ops, rings and cycles."""
    regions = a.get("streamed") or []
    if not regions:
        return ""
    rows = "".join(
        f"<tr><td class=\"t\">{escape(r['name'])}</td><td>{len(r['ops'])}</td>"
        f"<td>{r['steps']:,}</td><td class=\"t\">"
        + escape(", ".join(f"{t}: {g['rows']}+{g['repeated_rows']} rows" for t, g in r["rings"].items()))
        + f"</td><td>{r['scratch_bytes']:,}</td><td>{r['cycles']:,}</td></tr>" for r in regions)
    return ('<div class="scroll"><table id="streamed-table"><thead><tr><th class="t">streamed '
            'region</th><th>ops</th><th>row steps</th><th class="t">rings (rows + repeated)</th>'
            f"<th>ring bytes</th><th>cycles</th></tr></thead><tbody>{rows}</tbody></table></div>")


def _arena_chart(a: dict, steps) -> str:
    """Tensors as boxes: x = steps they are live, y = their bytes in the arena."""
    if not steps:
        return ""
    first, last = steps[0][0], steps[-1][0]
    n = last - first + 1
    width, left, top, plot_h = 640, 60, 8, 220
    col = (width - left - 10) / n
    size = max(a["arena_bytes"], 1)
    height = top + plot_h + 34
    parts = [f'<svg id="arena-chart" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="arena over time">',
             f'<rect x="{left}" y="{top}" width="{col * n:.1f}" height="{plot_h}" fill="none" '
             'stroke="#a0aec0"/>']
    palette = ("#2b6cb0", "#2f855a", "#d69e2e", "#9f7aea", "#c05621", "#4c9ed9")
    owners = [t for t in a["tensors"] if "buffer" not in t]
    for k, t in enumerate(owners):
        x = left + (t["first_step"] - first) * col
        w = (t["last_step"] - t["first_step"] + 1) * col
        y = top + plot_h * t["offset"] / size
        h = max(plot_h * t["bytes"] / size, 1.0)
        parts.append(f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{w - 2:.1f}" height="{h:.1f}" '
                     f'fill="{palette[k % len(palette)]}" fill-opacity="0.75" stroke="#fff">'
                     f"<title>{escape(t['tensor'])}: {t['bytes']:,} B at offset {t['offset']:,}, "
                     f"steps {t['first_step']}..{t['last_step']}</title></rect>")
        if h >= 12 and w >= 40:
            label = t["tensor"] if len(t["tensor"]) * 6 < w else t["tensor"][:max(int(w / 6) - 1, 1)]
            parts.append(f'<text x="{x + 4:.1f}" y="{y + min(h, 24) / 2 + 4:.1f}" '
                         f'fill="#fff">{escape(label)}</text>')
    for s, _, _ in steps:
        x = left + (s - first + 0.5) * col
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{s}</text>')
    parts.append(f'<text x="{left + col * n / 2:.1f}" y="{top + plot_h + 30}" '
                 'text-anchor="middle">step</text>')
    parts.append(f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">0</text>'
                 f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">{size:,} B</text>')
    parts.append("</svg>")
    return f"<div class=\"scroll\">{''.join(parts)}</div>"


def _flash(reports: list[dict]) -> str:
    parts = [flash_parts(r) for r in reports]
    head = "".join(f"<th>{_weights(r)} weights</th>" for r in reports)
    rows = []
    for label, key, _ in FLASH_PARTS:
        rows.append(f'<tr><td class="t">{label}</td>'
                    + "".join(f"<td>{p[key]:,}</td>" for p in parts) + "</tr>")
    rows.append('<tr class="total"><td class="t">object file (flash)</td>'
                + "".join(f"<td>{r['totals']['file_bytes']:,}</td>" for r in reports) + "</tr>")
    rows.append('<tr><td class="t">cycles</td>'
                + "".join(f"<td>{r['totals']['cycles']:,}</td>" for r in reports) + "</tr>")
    table = (f'<div class="scroll"><table id="flash-table"><thead><tr><th class="t">part</th>'
             f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
    return (f'<section id="flash"><h2>Flash</h2>{_flash_chart(reports, parts)}{table}</section>')


def _flash_chart(reports, parts) -> str:
    width, left, row = 640, 120, 26
    biggest = max(r["totals"]["file_bytes"] for r in reports) or 1
    bar_w = width - left - 20
    height = row * len(reports) + 8
    svg = [f'<svg id="flash-chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="flash by part">']
    for k, (r, p) in enumerate(zip(reports, parts)):
        y, x = 4 + k * row, float(left)
        svg.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_weights(r)}</text>')
        for label, key, colour in FLASH_PARTS:
            w = bar_w * p[key] / biggest
            if w > 0:
                svg.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" '
                           f'fill="{colour}"><title>{label}: {p[key]:,} B</title></rect>')
            x += w
    svg.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{label}</span>'
                     for label, _, c in FLASH_PARTS)
    return f"<div class=\"scroll\">{''.join(svg)}</div><p class=\"legend\">{legend}</p>"


def render(report: dict, name: str, other: dict | None = None) -> str:
    """The page for `report`; `other`, the same model compiled with the other
    weight type, adds its flash and cycles beside."""
    reports = [report] if other is None else sorted(
        [report, other], key=lambda r: r["options"]["float16"])
    opts = report["options"]
    flags = [f"{_weights(report)} weights", f"--optimize {opts['optimize']}"]
    if opts.get("test_data"):
        flags.append("test data embedded")
    meta = (f'<p class="meta">{escape(report["model"])} · {escape(report["compiler"])} · '
            f'content hash {escape(report["content_hash"])} · {escape(", ".join(flags))} · '
            f'input {_shape(report["input_shape"])} → output {_shape(report["output_shape"])}</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(name)} · ML4F report</title><style>{CSS}</style></head>"
            f"<body><h1>{escape(name)}</h1>{meta}{_summary(report, name)}{_layers(report)}"
            f"{_arena(report)}{_flash(reports)}"
            f'<p class="note">{escape(report["cycle_model"])}.</p></body></html>\n')
