"""Build the native engine ahead of time: ``python -m rnnkit.bptt.native.build``.

The README's set-up commands run this once (it needs a C++ compiler and ninja); the
result is cached as ``location.py`` says. Importing rnnkit never compiles.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rnnkit.bptt.native.location import (
    CAPABILITY_FLAGS,
    LIBRARY_NAME,
    build_dir,
    capability,
    library_path,
    source_files,
)


def build(verbose: bool = False) -> Path:
    """Compile (or reuse) the library and return its path; raises if the build fails."""
    from torch.utils.cpp_extension import load  # imports setuptools: only when building

    target = build_dir()
    target.mkdir(parents=True, exist_ok=True)
    load(
        name=LIBRARY_NAME,
        sources=[str(p) for p in source_files() if p.suffix == ".cpp"],
        build_directory=str(target),
        # -fopenmp: the loops' teams are OpenMP parallel regions, and ATen's parallel_for (a
        # header template) would run serially without it.
        extra_cflags=["-O3", "-fopenmp", *CAPABILITY_FLAGS.get(capability(), [])],
        extra_ldflags=["-fopenmp"],
        is_python_module=False,
        verbose=verbose,
    )
    return library_path()


def main() -> int:
    start = time.perf_counter()
    print(f"rnnkit: building the native engine for {capability()} into {build_dir()} ...")
    try:
        path = build(verbose="-v" in sys.argv)
    except Exception as error:  # a missing compiler or ninja, a compile error
        print(f"rnnkit: native build failed ({error}); rnnkit will use its PyTorch engine.")
        return 1
    print(f"rnnkit: native engine ready: {path} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
