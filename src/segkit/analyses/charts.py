"""Chart shapes several sections share (matplotlib ``Figure`` objects, never pyplot)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure


def paired_share_bars(
    labels: Sequence[str],
    bars: dict[str, tuple[pd.Series, str]],
    title: str,
) -> Figure:
    """Side-by-side bars of two shares (0-1) per group, e.g. clients vs revenue per tier.

    ``bars`` maps a legend name to (shares in the order of ``labels``, colour).
    """
    fig = Figure(figsize=(6.4, 3.8), dpi=100)
    ax = fig.subplots()
    x = np.arange(len(labels))
    width = 0.8 / len(bars)
    for i, (name, (shares, colour)) in enumerate(bars.items()):
        offset = (i - (len(bars) - 1) / 2) * width
        ax.bar(x + offset, np.asarray(shares) * 100, width, color=colour, label=name)
    ax.set_xticks(x, list(labels))
    ax.set_ylabel("Share (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
