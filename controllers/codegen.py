"""C code generation of CasADi functions: compiled once, cached by content, interpreted where no
compiler exists.

The NMPC's per-step work (:mod:`controllers.mpc`) is a CasADi function evaluated every control period;
compiled it runs about 3x faster than CasADi's interpreter. :func:`compile_function` writes the
function's C code (``casadi.CodeGenerator``), compiles it to a shared library with the system's C
compiler and caches it under a hash of the function, the compiler, its flags and the CasADi version,
so a problem compiles once per machine (about a second for the drift NMPC's stage-wise function).

Environment: ``CC`` names the compiler (default: the first of ``gcc``, ``cc``, ``clang`` on ``PATH``);
``DRIFT_CACHE_DIR`` moves the cache (default ``~/.cache/drift``; libraries in ``codegen/``).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import warnings
from pathlib import Path

import casadi as ca
import numpy as np

from drift.errors import DriftError

CFLAGS = ("-O2", "-fPIC", "-shared")
_WARNED: set[str] = set()


def find_c_compiler() -> list[str] | None:
    """The C compiler command (``$CC`` split like a shell, else ``gcc``, ``cc`` or ``clang`` on
    ``PATH``), or None when there is none."""
    cc = os.environ.get("CC")
    if cc:
        cmd = shlex.split(cc)
        return cmd if cmd and shutil.which(cmd[0]) else None  # a CC that is not there is no compiler
    for name in ("gcc", "cc", "clang"):
        path = shutil.which(name)
        if path:
            return [path]
    return None


def cache_dir() -> Path:
    """Where compiled functions are kept: ``$DRIFT_CACHE_DIR/codegen`` or ``~/.cache/drift/codegen``."""
    return Path(os.environ.get("DRIFT_CACHE_DIR", Path.home() / ".cache" / "drift")) / "codegen"


def _fall_back(message: str, required: bool) -> None:
    if required:
        raise DriftError(message)
    if message not in _WARNED:  # once per process and cause: a controller is built many times
        _WARNED.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def compile_function(fun: ca.Function, required: bool = False) -> Path | None:
    """Compile ``fun`` to a shared library (cached) and return its path.

    Args:
        fun: a CasADi function (SX or MX) that supports code generation.
        required: raise instead of falling back when there is no compiler or compiling fails.

    Returns:
        The library's path (load it with ``casadi.external(fun.name(), str(path))``), or None when no
        C compiler exists or compiling failed; a ``RuntimeWarning`` then says why, once per process
        and cause, and the caller keeps the interpreted ``fun``.

    Raises:
        DriftError: with ``required=True``, where None would be returned.
    """
    cc = find_c_compiler()
    if cc is None:
        where = (
            f"CC={os.environ['CC']!r} is not on PATH"
            if os.environ.get("CC")
            else "no gcc, cc or clang on PATH"
        )
        _fall_back(
            f"no C compiler found ({where}; set CC or install gcc): CasADi functions run interpreted, "
            "about 2-3x slower per NMPC solve",
            required,
        )
        return None
    key = hashlib.sha1(
        "\0".join([fun.serialize(), " ".join(cc), " ".join(CFLAGS), ca.__version__]).encode()
    ).hexdigest()[:16]
    folder = cache_dir()
    lib = folder / f"{fun.name()}_{key}.so"
    if lib.exists():
        return lib
    tag = f"{fun.name()}_{key}_{os.getpid()}"  # per process: parallel builds never share a file
    try:
        folder.mkdir(parents=True, exist_ok=True)
        cg = ca.CodeGenerator(f"{tag}.c", {"with_header": False})
        cg.add(fun)
        cg.generate(str(folder) + os.sep)
        subprocess.run(
            [*cc, *CFLAGS, str(folder / f"{tag}.c"), "-o", str(folder / f"{tag}.so"), "-lm"],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        os.replace(folder / f"{tag}.so", lib)  # atomic: a reader sees the whole library or none
    except (OSError, RuntimeError, subprocess.SubprocessError) as ex:
        detail = getattr(ex, "stderr", None) or str(ex)
        _fall_back(
            f"compiling {fun.name()!r} with {' '.join(cc)} failed ({detail.strip()[:300]}): "
            "it runs interpreted",
            required,
        )
        return None
    finally:
        for suffix in (".c", ".so"):
            (folder / f"{tag}{suffix}").unlink(missing_ok=True)
    return lib


class InPlace:
    """A CasADi function evaluated on numpy arrays it keeps (``casadi.Function.buffer``): no conversion
    and no allocation per call. A numpy-to-CasADi conversion costs about 20 us whatever the size, more
    than evaluating a small function such as the NMPC's one-step prediction.

    ``args[i]`` / ``res[i]`` are float64 arrays of the nonzeros of input / output ``i`` (a dense vector:
    the vector). Write the inputs in place (``args[0][:] = ...``), call, read the outputs; the next call
    overwrites them. For SX, MX and compiled functions; CasADi 3.8.2's HPIPM interface returns wrong
    steps through a buffer, so solvers are called the usual way.
    """

    def __init__(self, fun: ca.Function):
        self.fun = fun  # kept alive: the buffer evaluates it
        self.args = [np.zeros(fun.nnz_in(i)) for i in range(fun.n_in())]
        self.res = [np.zeros(fun.nnz_out(i)) for i in range(fun.n_out())]
        self._buf, self._eval = fun.buffer()
        for i, a in enumerate(self.args):
            self._buf.set_arg(i, memoryview(a))
        for i, a in enumerate(self.res):
            self._buf.set_res(i, memoryview(a))

    def __call__(self) -> int:
        """Evaluate; returns CasADi's status (0: success)."""
        self._eval()
        return self._buf.ret()
