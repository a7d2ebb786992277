"""Where the native engine's sources are and where their build is cached: a folder under
``$RNNKIT_CACHE_DIR`` (default ``~/.cache/rnnkit``) named after a hash of the sources, the
torch version and the CPU's vector instructions, so that a changed source or a new torch
builds afresh and an unchanged one is reused."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

SOURCES = Path(__file__).resolve().parent / "csrc"
LIBRARY_NAME = "rnnkit_native"
FLAGS_VERSION = 2  # bump when build.py's compiler flags change, so that caches rebuild

# The vector width the kernels are compiled for must match what ATen's Vectorized<T>
# expects: CPU_CAPABILITY_* selects its AVX2 / AVX-512 implementation.
CAPABILITY_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
               "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"],
    "AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
}  # fmt: skip


def capability() -> str:
    found = torch.backends.cpu.get_cpu_capability()
    return found if found in CAPABILITY_FLAGS else "DEFAULT"


def source_files() -> list[Path]:
    return sorted(SOURCES.glob("*.cpp")) + sorted(SOURCES.glob("*.h"))


def build_dir() -> Path:
    """Where this exact source, torch and CPU combination is (or will be) built."""
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{torch.__version__}|{capability()}|{FLAGS_VERSION}".encode())
    root = Path(os.environ.get("RNNKIT_CACHE_DIR", Path.home() / ".cache" / "rnnkit"))
    return root / "native" / digest.hexdigest()[:16]


def library_path() -> Path:
    return build_dir() / f"{LIBRARY_NAME}.so"
