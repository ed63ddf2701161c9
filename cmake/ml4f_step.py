"""The build step of cmake/ML4F.cmake: `ml4f compile`, skipped when nothing it depends on changed.

    python ml4f_step.py STAMP -- MODEL -o DIR -b NAME [options...]

CMake (like make) reruns a step when a file it depends on is newer.  This step then
decides as the SCons Tool does: it compiles only when the model file's content, the
options or the compiler (the content of its files) differ from the last compile,
recorded in STAMP.  Touching the model therefore recompiles nothing and leaves the
outputs untouched, so nothing that includes NAME.h is rebuilt.
"""
import hashlib
import os
import sys


def signature(model: str, args: list) -> str:
    import ml4f
    from ml4f_scons.signature import compiler_digest
    h = hashlib.sha256()
    with open(model, "rb") as fh:
        h.update(fh.read())
    h.update("\0".join(args).encode())
    h.update(f"{ml4f.__version__}\0{compiler_digest()}".encode())
    return h.hexdigest()


def outputs_exist(args: list) -> bool:
    out, name = args[args.index("-o") + 1], args[args.index("-b") + 1]
    forms = [".c" if "--c-array" in args else ".S"]
    return all(os.path.exists(os.path.join(out, name + s)) for s in [".bin", ".h"] + forms)


def main(argv: list) -> int:
    stamp, sep, args = argv[0], argv[1], argv[2:]
    if sep != "--" or not args:
        print("usage: ml4f_step.py STAMP -- MODEL -o DIR -b NAME [options]", file=sys.stderr)
        return 2
    try:
        wanted = signature(args[0], args[1:])
    except OSError as e:
        print(f"ml4f: error: {args[0]}: {e.strerror}", file=sys.stderr)
        return 1
    try:
        with open(stamp) as fh:
            if fh.read().strip() == wanted and outputs_exist(args):
                return 0                    # the same model, options and compiler: up to date
    except OSError:
        pass
    from ml4f.cli import main as ml4f_main
    if os.path.exists(stamp):
        os.remove(stamp)                    # a failed compile must not look up to date
    status = ml4f_main(["compile", *args])
    if status == 0:
        with open(stamp, "w") as fh:
            fh.write(wanted + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
