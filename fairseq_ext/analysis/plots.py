"""Figures as PNG (matplotlib, no display needed): per-layer curves (word translation,
sentence retrieval, word maps, and transfer scores from other code) and CKA heat-maps.
Each is written under a temporary name and renamed when complete."""

from pathlib import Path
from typing import Dict, Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from xling.files import write_atomically  # noqa: E402


def _save(fig, path) -> Path:
    write_atomically(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)
    return Path(path)


def layer_curves(
    path,
    series: Dict[str, Sequence[float]],
    title: str,
    ylabel: str,
    references: Optional[Dict[str, float]] = None,
) -> Path:
    """One line per series over layers L0..LN; ``references``: horizontal lines for
    layer-free scores (e.g. a fastText baseline)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, values in series.items():
        ax.plot(range(len(values)), values, marker="o", label=label)
    for i, (label, value) in enumerate((references or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{len(series) + i}", label=label)
    n_layers = max((len(v) for v in series.values()), default=1)
    ax.set_xticks(range(n_layers), [f"L{i}" for i in range(n_layers)])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def heatmap(
    path,
    matrix: np.ndarray,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    title: str,
    xlabel: str = "",
    ylabel: str = "",
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> Path:
    """An annotated heat-map, e.g. CKA between the layers of two models, or the paper's
    Figure 7 (layers and their average x language pairs)."""
    matrix = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * matrix.shape[1], 1.0 + 0.45 * matrix.shape[0]))
    image = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="white" if value < 0.6 else "black")
    ax.set_xticks(range(matrix.shape[1]), column_labels, rotation=45, ha="right")
    ax.set_yticks(range(matrix.shape[0]), row_labels)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    return _save(fig, path)
