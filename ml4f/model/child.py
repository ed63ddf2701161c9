"""Run the model file's reader in a child process, with a time limit.

libhdf5 can spin forever on a damaged file (a zeroed block in the object headers) and
crash on others; neither can be interrupted inside the process that calls it.  The
reader therefore runs in a child (forked: nothing to import again, a few milliseconds)
that sends back the pickled result -- the Model records, numpy arrays included -- or the
exception it raised.  A child still running after the time limit is killed, one that
dies is reported; both as one line naming the file.
"""
from __future__ import annotations

import multiprocessing
import pickle
import sys
import warnings

from ..errors import ModelFormatError

#: start methods in order of preference: fork costs nothing; forkserver and spawn work
#: where fork is missing or unsafe
_METHODS = ("fork", "forkserver", "spawn") if sys.platform.startswith("linux") \
    else ("forkserver", "spawn")


def _context():
    available = multiprocessing.get_all_start_methods()
    for method in _METHODS:
        if method in available:
            return multiprocessing.get_context(method)
    return None


def _child(conn, fn, args, kwargs) -> None:
    try:
        result = ("ok", fn(*args, **kwargs))
    except BaseException as error:          # everything goes back to the parent
        result = ("error", error)
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:              # an unpicklable exception: its text instead
        data = pickle.dumps(("error", RuntimeError(f"{type(result[1]).__name__}: {error}")))
    conn.send_bytes(data)
    conn.close()


def run_in_child(fn, *args, timeout: float, path: str, **kwargs):
    """fn(*args, **kwargs) in a child process; its result, or the exception it raised
    raised here.  ModelFormatError naming `path` when it takes more than `timeout`
    seconds or dies."""
    ctx = _context()
    if ctx is None:                                        # pragma: no cover
        return fn(*args, **kwargs)
    recv, send = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(send, fn, args, kwargs), daemon=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # fork() of a threaded process
        process.start()
    send.close()
    received = False
    try:
        if not recv.poll(timeout):
            raise ModelFormatError(f"reading timed out after {timeout:g} s (damaged file?)",
                                   path=path)
        try:
            data = recv.recv_bytes()
        except (EOFError, OSError):
            process.join(1.0)
            code = process.exitcode
            how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            raise ModelFormatError(f"the reader crashed ({how}) on this file (damaged file?)",
                                   path=path) from None
        received = True
    finally:
        recv.close()
        if received:
            process.join(2.0)                 # it exits once the result is sent
        if process.is_alive():
            process.kill()
        process.join()
        process.close()
    status, value = pickle.loads(data)
    if status == "error":
        raise value
    return value
