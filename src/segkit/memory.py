"""Large-array allocation on Linux: numpy's huge-page advice, off where it stalls.

NumPy asks the kernel for transparent huge pages (``madvise``) for every array of 4 MB or more.
Where the kernel's THP ``defrag`` mode is ``madvise`` or ``defer+madvise``, a fault in such a
region compacts memory on the spot, and each new array of a million clients waits for it: the
segmentations' pandas work at 10 M rows took ~1.3x as long (bench/README.md). On those kernels
segkit turns the advice off when it is imported, unless ``NUMPY_MADVISE_HUGEPAGE`` is set (then
numpy's own choice stands). Results do not change, only how memory is mapped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEFRAG = Path("/sys/kernel/mm/transparent_hugepage/defrag")


def stalls_on_advice(defrag: str) -> bool:
    """Whether a kernel with this THP ``defrag`` setting (e.g. ``always defer [madvise]
    never``) compacts memory at the fault of an ``madvise``d region."""
    chosen = defrag[defrag.find("[") + 1 : defrag.find("]")] if "[" in defrag else ""
    return chosen in ("madvise", "defer+madvise")


def avoid_huge_page_stalls() -> bool:
    """Turn numpy's huge-page advice off on kernels where it stalls; True when turned off."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    try:
        defrag = DEFRAG.read_text()
    except OSError:  # not Linux, or no transparent huge pages
        return False
    setter = getattr(getattr(np, "_core", None), "multiarray", None)
    if not stalls_on_advice(defrag) or not hasattr(setter, "_set_madvise_hugepage"):
        return False
    setter._set_madvise_hugepage(False)  # type: ignore[union-attr]
    return True
