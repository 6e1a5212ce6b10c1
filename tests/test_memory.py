"""numpy's huge-page advice is turned off only where the kernel stalls on it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segkit.memory import DEFRAG, stalls_on_advice


@pytest.mark.parametrize(
    ("defrag", "stalls"),
    [
        ("always defer defer+madvise [madvise] never", True),
        ("always defer [defer+madvise] madvise never", True),
        ("[always] defer defer+madvise madvise never", False),
        ("always [defer] defer+madvise madvise never", False),
        ("always defer defer+madvise madvise [never]", False),
        ("", False),
    ],
)
def test_which_defrag_modes_stall(defrag: str, stalls: bool) -> None:
    assert stalls_on_advice(defrag) is stalls


def _advice_after_import(env: dict[str, str]) -> bool:
    code = "import segkit, numpy; print(numpy._core.multiarray._get_madvise_hugepage())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip() == "True"


def test_importing_segkit_follows_the_kernel_and_the_user() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    stalls = DEFRAG.is_file() and stalls_on_advice(DEFRAG.read_text())
    if stalls:
        assert not _advice_after_import(env)
    # The user's explicit choice is left alone.
    assert _advice_after_import({**env, "NUMPY_MADVISE_HUGEPAGE": "1"})
