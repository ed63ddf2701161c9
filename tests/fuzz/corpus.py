"""The fuzz corpus: deterministic cases built from the seed models in tests/data/fuzz.

Categories (each case says which):

- ``bytes``: byte-level mutants of every seed in its three formats (Keras 2 .h5, Keras 3
  .h5, .keras): zeroed, 0xFF and random blocks, flipped bytes, truncations; for .keras
  also mutants of the weights member and of config.json inside a valid archive;
- ``config``: every key of every layer's configuration (and keys taken away) set to values
  of the wrong type, boundary values and absurd sizes;
- ``archive``: .keras archives whose members are compressed with each method (stored,
  deflate, bzip2, lzma) and inflate to far more than a model can need;
- ``sizes``: consistent models too large for any Cortex-M4F (weights that are not in the
  file, huge inputs), and a large legitimate one (300 layers);
- ``names``: -b values and file names that are not C identifiers, output paths that
  cannot be written;
- ``reported``: the inputs of the problem report, one by one.

``cases(mode)`` lists them: "ci" (a few hundred, minutes on two cores) or "full"
(thousands, for a developer's machine: ML4F_FUZZ=full).
"""
from __future__ import annotations

import bz2
import copy
import io
import json
import random
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

from . import formats

SEED_DIR = Path(__file__).resolve().parents[1] / "data" / "fuzz"
SEEDS = ("cnn", "mlp", "conv_kinds", "seq_kinds", "merge_kinds")
FORMATS = (("k2_h5", ".h5"), ("k3_h5", ".h5"), ("k3_keras", ".keras"))

MISSING = object()          # the key taken away
#: values of the wrong type, at the boundaries, or absurd
VALUES = (MISSING, None, "two", "33", "", 1.5, [1.5, 1.5], -1, 0, 1, True, 1e39,
          float("inf"), float("nan"), [], {}, [1, 2, 3, 4, 5], 2 ** 31, 10 ** 9, [[1]],
          {"class_name": "X", "config": {}}, [0, 0], [-1, 2])
#: keys every layer may be asked about although the seeds' configs lack them
EXTRA_KEYS = ("groups", "data_format", "padding", "activation", "axis")


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    build: Callable[[Path], Path] = field(compare=False)   # writes the input into a dir
    args: tuple = ()
    expect: str | None = None      # "refused" (exit 1), "compiled" (exit 0), "usage" (exit 2);
                                   # None: refused or compiled
    message: str | None = None     # a part of the one line (refused / usage)
    name: str | None = "m"         # -b NAME (None: none given)
    out: str = "out"               # -o, relative to the case's directory


def seed_path(seed: str, fmt: str) -> Path:
    suffix = dict(FORMATS)[fmt]
    return SEED_DIR / f"{seed}_{fmt}{suffix}"


# ------------------------------------------------------------------------------ bytes
def _mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    d = bytearray(data)
    kind = rng.choice(("zero", "zero", "ff", "random", "flip", "truncate"))
    if kind == "truncate":
        n = rng.randrange(1, len(d))
        return f"truncate{n}", bytes(d[:n])
    if kind == "flip":
        spots = sorted(rng.randrange(len(d)) for _ in range(rng.randint(1, 8)))
        for s in spots:
            d[s] ^= 1 << rng.randrange(8)
        return "flip" + "-".join(map(str, spots)), bytes(d)
    n = rng.randint(1, 600)
    at = rng.randrange(max(1, len(d) - n))
    fill = {"zero": bytes(n), "ff": b"\xff" * n,
            "random": bytes(rng.randrange(256) for _ in range(n))}[kind]
    d[at:at + n] = fill
    return f"{kind}{n}@{at}", bytes(d)


def _write_bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p
    return build


def _zeroed(seed: str, fmt: str, at: int, n: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        data = bytearray(seed_path(seed, fmt).read_bytes())
        data[at:at + n] = bytes(n)
        p = d / f"model{dict(FORMATS)[fmt]}"
        p.write_bytes(bytes(data))
        return p
    return build


def byte_cases(per_seed: int, seeds=SEEDS) -> list[Case]:
    out = []
    for seed in seeds:
        for fmt, suffix in FORMATS:
            data = seed_path(seed, fmt).read_bytes()
            rng = random.Random(f"bytes/{seed}/{fmt}")
            for _ in range(per_seed):
                what, mutant = _mutate(data, rng)
                out.append(Case(f"bytes/{seed}_{fmt}/{what}", "bytes",
                                _write_bytes(f"model{suffix}", mutant)))
            if fmt == "k3_keras":
                parts = formats.members(seed_path(seed, fmt))
                for member in ("model.weights.h5", "config.json"):
                    mrng = random.Random(f"member/{seed}/{member}")
                    for _ in range(max(1, per_seed // 2)):
                        what, mutant = _mutate(parts[member], mrng)
                        archive = io.BytesIO()
                        formats.write_zip(archive, {**parts, member: mutant})
                        out.append(Case(f"bytes/{seed}_keras:{member}/{what}", "bytes",
                                        _write_bytes("model.keras", archive.getvalue())))
    return out


# ----------------------------------------------------------------------------- config
def _config_mutant(seed: str, fmt: str, index: int, key: str, value) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        src = seed_path(seed, fmt)
        config = copy.deepcopy(formats.read_config(src))
        entry = formats.layer_entries(config)[index]
        if value is MISSING:
            entry["config"].pop(key, None)
        else:
            entry["config"][key] = copy.deepcopy(value)
        return formats.write_config(src, d / f"model{src.suffix}", config)
    return build


def _shown(value) -> str:
    return "missing" if value is MISSING else json.dumps(value)[:24]


def config_cases(sample: int | None, seeds=SEEDS, fmts=tuple(f for f, _ in FORMATS)) -> list[Case]:
    """Every (layer, key, value) of the seeds, or `sample` of them per seed and format."""
    out = []
    for seed in seeds:
        for fmt in fmts:
            entries = formats.layer_entries(formats.read_config(seed_path(seed, fmt)))
            combos = []
            for i, entry in enumerate(entries):
                cfg = entry["config"]
                keys = [k for k in cfg if k not in ("name", "trainable", "dtype")]
                keys += [k for k in EXTRA_KEYS if k not in cfg]
                for key in keys:
                    for value in VALUES:
                        combos.append((i, entry["class_name"], cfg.get("name", i), key, value))
            if sample is not None:
                combos = random.Random(f"config/{seed}/{fmt}").sample(combos,
                                                                      min(sample, len(combos)))
            for i, cls, lname, key, value in combos:
                out.append(Case(f"config/{seed}_{fmt}/{lname}({cls}).{key}={_shown(value)}",
                                "config", _config_mutant(seed, fmt, i, key, value)))
    return out


# ---------------------------------------------------------------------------- archive
def _zeros_compressed(method: int, n: int) -> bytes:
    """A zip member's compressed data of n zero bytes (streamed: no n-byte buffer)."""
    chunk = bytes(1 << 20)
    if method == zipfile.ZIP_DEFLATED:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
    elif method == zipfile.ZIP_BZIP2:
        c = bz2.BZ2Compressor(9)
    elif method == zipfile.ZIP_LZMA:
        raise ValueError("lzma members are written by zipfile itself")
    else:
        raise ValueError(method)
    out = bytearray()
    for _ in range(n // len(chunk)):
        out += c.compress(chunk)
    return bytes(out + c.flush())


def _bomb(method: int, member: str, n: int) -> Callable[[Path], Path]:
    """A .keras whose `member` inflates to n zero bytes (stored: declared so, with the
    data missing); the other members from the cnn seed."""
    def build(d: Path) -> Path:
        parts = formats.members(seed_path("cnn", "k3_keras"))
        p = d / "bomb.keras"
        with zipfile.ZipFile(p, "w") as z:
            for name, data in parts.items():
                if name != member:
                    z.writestr(name, data)
            info = zipfile.ZipInfo(member, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = method
            if method == zipfile.ZIP_LZMA:
                small = 8 << 20                       # lzma of zeros: zipfile writes it
                with z.open(info, "w") as w:
                    for _ in range(small >> 20):
                        w.write(bytes(1 << 20))
                return p
            if method == zipfile.ZIP_STORED:
                z.writestr(info, b"\0" * 1024)        # header patched below: a lie
            else:
                _write_raw(z, info, _zeros_compressed(method, n), n)
        if method == zipfile.ZIP_STORED:
            _patch_sizes(p, member, n)
        return p
    return build


def _write_raw(z: zipfile.ZipFile, info: zipfile.ZipInfo, compressed: bytes, n: int) -> None:
    """A member whose compressed bytes are given (zipfile would compress n bytes itself)."""
    crc = 0
    chunk = bytes(1 << 20)
    for _ in range(n >> 20):
        crc = zlib.crc32(chunk, crc)
    info.CRC, info.compress_size, info.file_size = crc, len(compressed), n
    info.header_offset = z.fp.tell()
    z.fp.write(info.FileHeader(zip64=n > 0x7FFFFFFF))
    z.fp.write(compressed)
    z.start_dir = z.fp.tell()
    z.filelist.append(info)
    z.NameToInfo[info.filename] = info
    z._didModify = True


def _patch_sizes(path: Path, member: str, n: int) -> None:
    """Make the central directory claim `member` is n bytes (a stored member's lie)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = data.rfind(b"PK\x01\x02" + b"\0" * 0, 0)
    while at >= 0:
        if data[at + 46:at + 46 + len(name)] == name:
            data[at + 20:at + 24] = (n & 0xFFFFFFFF).to_bytes(4, "little")
            data[at + 24:at + 28] = (n & 0xFFFFFFFF).to_bytes(4, "little")
            break
        at = data.rfind(b"PK\x01\x02", 0, at)
    path.write_bytes(bytes(data))


def archive_cases() -> list[Case]:
    out = []
    methods = {"stored": zipfile.ZIP_STORED, "deflate": zipfile.ZIP_DEFLATED,
               "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}
    for label, method in methods.items():
        for member, n in (("model.weights.h5", 256 << 20), ("config.json", 64 << 20)):
            out.append(Case(f"archive/{label}/{member}", "archive", _bomb(method, member, n),
                            expect="refused"))
    # a member within the size limits but inflating far too much for its size
    out.append(Case("archive/deflate/ratio", "archive",
                    _bomb(zipfile.ZIP_DEFLATED, "model.weights.h5", 48 << 20),
                    args=("--max-bytes", "64M"), expect="refused", message="times"))
    return out


# ------------------------------------------------------------------------------ sizes
def _dense_keras(widths: list[int], *, write: bool = True, input_shape=None,
                 name: str = "dense.keras", scale: float = 1.0) -> Callable[[Path], Path]:
    """A consistent Keras 3 MLP; write=False leaves the weights unwritten (the file stays
    small whatever they declare: HDF5 returns the fill value)."""
    def build(d: Path) -> Path:
        shape = input_shape or [widths[0]]
        layers = [{"module": "keras.layers", "class_name": "InputLayer",
                   "config": {"batch_shape": [None, *shape], "dtype": "float32",
                              "name": "input"}, "registered_name": None}]
        weights = io.BytesIO()
        rng = np.random.default_rng(0)
        with h5py.File(weights, "w") as f:
            group = f.create_group("layers")
            for i, (a, b) in enumerate(zip(widths, widths[1:])):
                layers.append({"module": "keras.layers", "class_name": "Dense",
                               "config": {"name": f"fc{i}", "dtype": "float32", "units": b,
                                          "activation": "relu", "use_bias": True},
                               "registered_name": None})
                v = group.create_group("dense" if i == 0 else f"dense_{i}").create_group("vars")
                v.attrs["name"] = f"fc{i}"
                if write:
                    v["0"] = (rng.uniform(-1, 1, (a, b)) * scale / np.sqrt(a)).astype(np.float32)
                    v["1"] = rng.uniform(-1, 1, b).astype(np.float32)
                else:
                    v.create_dataset("0", (a, b), np.float32, chunks=True, fillvalue=0.5)
                    v.create_dataset("1", (b,), np.float32, chunks=True, fillvalue=0.5)
            f.create_group("vars").attrs["name"] = "mlp"
        config = {"module": "keras", "class_name": "Sequential",
                  "config": {"name": "mlp", "layers": layers}}
        p = d / name
        formats.write_zip(p, {"metadata.json": json.dumps({"keras_version": "3.10.0"}).encode(),
                              "config.json": json.dumps(config).encode(),
                              "model.weights.h5": weights.getvalue()}, zipfile.ZIP_DEFLATED)
        return p
    return build


def _input_shape(seed: str, fmt: str, shape: list) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        src = seed_path(seed, fmt)
        config = formats.read_config(src)
        first = config["config"]["layers"][0]["config"]
        first["batch_shape" if "batch_shape" in first else "batch_input_shape"] = [None, *shape]
        return formats.write_config(src, d / f"model{src.suffix}", config)
    return build


def _conv1d(length: int) -> Callable[[Path], Path]:
    """Conv1D over a long input, global pooling (consistent at any length)."""
    def build(d: Path) -> Path:
        layers = [{"class_name": "InputLayer", "module": "keras.layers",
                   "config": {"batch_shape": [None, length, 1], "dtype": "float32",
                              "name": "input"}},
                  {"class_name": "Conv1D", "module": "keras.layers",
                   "config": {"name": "conv", "filters": 2, "kernel_size": [3], "strides": [1],
                              "padding": "valid", "dilation_rate": [1], "groups": 1,
                              "activation": "linear", "use_bias": True,
                              "data_format": "channels_last", "dtype": "float32"}},
                  {"class_name": "GlobalAveragePooling1D", "module": "keras.layers",
                   "config": {"name": "gap", "data_format": "channels_last",
                              "dtype": "float32"}}]
        weights = io.BytesIO()
        with h5py.File(weights, "w") as f:
            v = f.create_group("layers").create_group("conv1d").create_group("vars")
            v["0"] = np.full((3, 1, 2), 0.25, np.float32)
            v["1"] = np.zeros(2, np.float32)
            f["layers"].create_group("global_average_pooling1d").create_group("vars")
        config = {"class_name": "Sequential", "module": "keras",
                  "config": {"name": "c1", "layers": layers}}
        p = d / "conv1d.keras"
        formats.write_zip(p, {"metadata.json": b'{"keras_version": "3.10.0"}',
                              "config.json": json.dumps(config).encode(),
                              "model.weights.h5": weights.getvalue()})
        return p
    return build


def _whitespace_config(n: int) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        parts = formats.members(seed_path("cnn", "k3_keras"))
        parts["config.json"] = b" " * n + parts["config.json"]
        return formats.write_zip(d / "ws.keras", parts, zipfile.ZIP_DEFLATED)
    return build


def size_cases() -> list[Case]:
    return [
        Case("sizes/dense16384x16384", "sizes", _dense_keras([16384, 16384], write=False),
             expect="refused", message="--max-bytes"),
        Case("sizes/input4096x4096x3", "sizes", _input_shape("conv_kinds", "k3_keras",
                                                            [4096, 4096, 3]),
             expect="refused", message="--max-bytes"),
        Case("sizes/input100000x100000x3", "sizes",
             _input_shape("conv_kinds", "k2_h5", [100000, 100000, 3]),
             expect="refused", message="--max-bytes"),
        Case("sizes/conv1d_1e8", "sizes", _conv1d(10 ** 8), expect="refused",
             message="--max-bytes"),
        Case("sizes/whitespace_config_1MB", "sizes", _whitespace_config(1 << 20)),
        Case("sizes/whitespace_config_64MB", "sizes", _whitespace_config(64 << 20),
             expect="refused"),
        Case("sizes/mlp300", "sizes", _dense_keras([8] * 301), expect="compiled"),
        Case("sizes/weights_near_float32_max", "sizes", _dense_keras([16, 16, 4], scale=1e38),
             expect="refused", message="not finite"),
        Case("sizes/conv1d_1e6", "sizes", _conv1d(10 ** 6), args=("--no-validate",),
             expect="compiled"),
        Case("sizes/weights_over_override", "sizes", _dense_keras([64, 64]),
             args=("--max-bytes", "4K"), expect="refused", message="--max-bytes"),
    ]


# ------------------------------------------------------------------------------ names
def _copy_seed(seed: str, fmt: str, name: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(seed_path(seed, fmt).read_bytes())
        return p
    return build


def _file_at(rel: str) -> Callable[[Path], Path]:
    """The mlp seed, with a plain file at `rel` (in the way of an output directory)."""
    def build(d: Path) -> Path:
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("not a directory\n")
        return _copy_seed("mlp", "k3_h5", "mlp.h5")(d)
    return build


def name_cases() -> list[Case]:
    mlp = _copy_seed("mlp", "k3_h5", "mlp.h5")
    out = [Case(f"names/-b={n!r}", "names", mlp, name=n, expect="usage", message="C identifier")
           for n in ('a"b', "a\nb", "a-b", "a.b", "a b", "a;b", "8x8", "", "../x", "a" * 300,
                     "é")]
    out += [Case("names/-b=ok_name", "names", mlp, name="ok_name", expect="compiled")]
    for stem in ("a-b", "a.b", "a b", "8x8", "naïve"):
        out.append(Case(f"names/file={stem!r}", "names", _copy_seed("mlp", "k3_h5", f"{stem}.h5"),
                        name=None, expect="compiled"))
    out.append(Case("names/file=long", "names", _copy_seed("mlp", "k3_h5", "x" * 200 + ".h5"),
                    name=None, expect="usage", message="-b NAME"))
    out.append(Case("names/out=file", "names", _file_at("blocker"), out="blocker",
                    expect="refused", message="is a file"))
    out.append(Case("names/out=dir_under_file", "names", _file_at("blocker"),
                    out="blocker/sub", expect="refused", message="is a file"))
    return out


# --------------------------------------------------------------------------- reported
def _set_key(seed: str, fmt: str, layer: str, key: str, value) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        src = seed_path(seed, fmt)
        config = formats.read_config(src)
        for entry in formats.layer_entries(config):
            if entry["config"].get("name") == layer:
                if value is MISSING:
                    entry["config"].pop(key)
                else:
                    entry["config"][key] = value
        return formats.write_config(src, d / f"model{src.suffix}", config)
    return build


REPORTED_CONFIG = [
    # (seed, layer, key, value, expected part of the message)
    ("cnn", "conv", "kernel_size", None, "kernel_size"),
    ("cnn", "conv", "kernel_size", MISSING, "kernel_size"),
    ("cnn", "conv", "kernel_size", "33", "kernel_size"),
    ("cnn", "conv", "groups", "two", "groups"),
    ("cnn", "conv", "strides", [1.5, 1.5], "strides"),
    ("cnn", "conv", "filters", MISSING, "filters"),
    ("cnn", "conv", "filters", "4", "filters"),
    ("cnn", "pool", "pool_size", 2.0, "pool_size"),
    ("cnn", "pool", "strides", [2.0, 2.0], "strides"),
    ("conv_kinds", "up", "size", [2.0, 2.0], "size"),
    ("seq_kinds", "reshape", "target_shape", "abc", "target_shape"),
    ("conv_kinds", "leaky", "negative_slope", 1e39, "negative_slope"),
    ("conv_kinds", "elu", "alpha", float("inf"), "alpha"),
    ("conv_kinds", "rescale", "scale", 1e39, "float32"),
    ("mlp", "fc1", "units", MISSING, "units"),
    ("mlp", "fc1", "units", "5", "units"),
]


#: found by the full corpus, kept in every run: (seed, format, layer, key, value)
FOUND_CONFIG = [
    ("conv_kinds", "k2_h5", "dw", "dilation_rate", 2 ** 31),
    ("conv_kinds", "k3_h5", "sep", "dilation_rate", 10 ** 9),
    ("seq_kinds", "k2_h5", "ln", "epsilon", 0),
    ("seq_kinds", "k3_keras", "prelu", "shared_axes", 1.5),
    ("seq_kinds", "k3_h5", "prelu", "shared_axes", float("inf")),
]
#: byte mutants found by the full corpus (weights near the float32 maximum)
FOUND_BYTES = ["bytes/conv_kinds_k2_h5/random272@15303", "bytes/conv_kinds_k3_h5/random453@19775",
               "bytes/merge_kinds_k3_h5/random511@14495"]
FULL_BYTES = 150                  # byte mutants per seed and format in the full corpus


def found_cases() -> list[Case]:
    out = [Case(f"config/found/{seed}_{fmt}/{layer}.{key}={_shown(value)}", "config",
                _set_key(seed, fmt, layer, key, value)) for seed, fmt, layer, key, value in
           FOUND_CONFIG]
    seeds = sorted({cid.split("/")[1].rsplit("_k", 1)[0] for cid in FOUND_BYTES})
    by_id = {c.id: c for c in byte_cases(FULL_BYTES, seeds)}
    return out + [by_id[cid] for cid in FOUND_BYTES]


def reported_cases() -> list[Case]:
    out = [Case("reported/hang_zeroed_block", "reported", _zeroed("cnn", "k2_h5", 3584, 433),
                expect="refused", message="timed out")]
    for seed, layer, key, value, message in REPORTED_CONFIG:
        fmt = "k3_keras" if seed != "cnn" else "k2_h5"
        out.append(Case(f"reported/{seed}.{layer}.{key}={_shown(value)}", "reported",
                        _set_key(seed, fmt, layer, key, value), expect="refused",
                        message=message))
    out.append(Case("reported/bzip2_bomb", "reported",
                    _bomb(zipfile.ZIP_BZIP2, "model.weights.h5", 64 << 20), expect="refused",
                    message="bzip2"))
    out.append(Case("reported/deflate_bomb", "reported",
                    _bomb(zipfile.ZIP_DEFLATED, "model.weights.h5", 512 << 20),
                    expect="refused", message="--max-bytes"))
    return out


# ------------------------------------------------------------------------------ modes
def cases(mode: str = "ci") -> list[Case]:
    if mode == "full":
        found = (byte_cases(FULL_BYTES) + config_cases(300) + archive_cases() + size_cases()
                 + name_cases() + reported_cases() + found_cases())
    else:
        found = (byte_cases(6) + config_cases(12, fmts=("k3_keras",))
                 + config_cases(4, fmts=("k2_h5", "k3_h5")) + archive_cases() + size_cases()
                 + name_cases() + reported_cases() + found_cases())
    ids = [c.id for c in found]
    unique, seen = [], set()
    for case, cid in zip(found, ids):
        if cid not in seen:
            seen.add(cid)
            unique.append(case)
    return unique
