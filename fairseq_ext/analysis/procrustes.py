"""Orthogonal maps between two vector spaces (the paper's Section 5.1).

- :class:`IterativeNormalization` (Zhang et al. 2019): unit length, then centering,
  repeated, then unit length once more, so that dot products are cosines. It is *fitted*
  on one set of vectors (the means it subtracts are kept) and applied unchanged to others,
  so held-out vectors are normalised with the statistics of the vectors the map was
  learned on.
- :func:`procrustes`: ``W = U Vᵀ`` from the SVD of ``Xᵀ Y``, the orthogonal ``W`` that
  minimises ``‖X W − Y‖_F`` (rows are vectors, so the paper's ``W X`` is our ``X W``).
- :class:`OrthogonalMap`: both normalisations and ``W``, learned from paired rows.

Everything is torch, so it runs on the device the vectors are on.
"""

from dataclasses import dataclass, field
from typing import List

import torch
import torch.nn.functional as F


@dataclass
class IterativeNormalization:
    rounds: int = 5
    means: List[torch.Tensor] = field(default_factory=list)  # subtracted after each unit-length step
    raw_mean: torch.Tensor = None  # of the vectors it was fitted on, before normalisation
    raw_scale: float = 1.0  # their average distance from raw_mean

    def fit(self, x: torch.Tensor) -> "IterativeNormalization":
        x = x.double()
        self.raw_mean = x.mean(0)
        self.raw_scale = float((x - self.raw_mean).norm(dim=1).mean())
        self.means = []
        for _ in range(self.rounds):
            x = F.normalize(x, dim=1)
            self.means.append(x.mean(0))
            x = x - self.means[-1]
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.double()
        for mean in self.means:
            x = F.normalize(x, dim=1) - mean.to(x.device)
        return F.normalize(x, dim=1).to(dtype)

    def restore_scale(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised vectors placed back at the fitted vectors' mean and average length: an
        approximate inverse, for consumers trained on raw features (e.g. transfer heads)."""
        return (x.double() * self.raw_scale + self.raw_mean.to(x.device)).to(x.dtype)


def procrustes(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The orthogonal d x d ``W`` minimising ``‖x W − y‖_F`` for paired rows of x and y."""
    if x.shape != y.shape:
        raise ValueError(f"Procrustes needs paired rows of equal size, got {tuple(x.shape)} and {tuple(y.shape)}")
    u, _, vh = torch.linalg.svd(x.double().T @ y.double())
    return (u @ vh).to(x.dtype)


@dataclass
class OrthogonalMap:
    """Maps the *source* space onto the *reference* space: normalise each side with its own
    fitted :class:`IterativeNormalization`, then rotate the source by ``W``."""

    source_norm: IterativeNormalization
    reference_norm: IterativeNormalization
    rotation: torch.Tensor  # d x d, orthogonal

    @classmethod
    def learn(cls, source: torch.Tensor, reference: torch.Tensor, rounds: int = 5, pairs=None) -> "OrthogonalMap":
        """Fit the normalisations on all of ``source``/``reference`` and ``W`` on the rows
        paired by ``pairs`` (two index tensors; by default row i with row i)."""
        source_norm = IterativeNormalization(rounds).fit(source)
        reference_norm = IterativeNormalization(rounds).fit(reference)
        x, y = source_norm(source).double(), reference_norm(reference).double()
        if pairs is not None:
            x, y = x[pairs[0]], y[pairs[1]]
        return cls(source_norm, reference_norm, procrustes(x, y))

    def __call__(self, source: torch.Tensor) -> torch.Tensor:
        normalized = self.source_norm(source)
        return normalized @ self.rotation.to(normalized.device, normalized.dtype)

    def reference(self, vectors: torch.Tensor) -> torch.Tensor:
        """Reference-side vectors, normalised the way the map's outputs are comparable with."""
        return self.reference_norm(vectors)

    def identity(self, source: torch.Tensor) -> torch.Tensor:
        """The same normalisation without the rotation: the unaligned baseline."""
        return self.source_norm(source)

    def to_reference_features(self, source: torch.Tensor) -> torch.Tensor:
        """Mapped source vectors at the reference's raw mean and scale."""
        return self.reference_norm.restore_scale(self(source))

    def state_dict(self) -> dict:
        def norm_state(n: IterativeNormalization):
            return {"means": n.means, "raw_mean": n.raw_mean, "raw_scale": n.raw_scale}

        return {"source": norm_state(self.source_norm), "reference": norm_state(self.reference_norm), "rotation": self.rotation}

    @classmethod
    def from_state_dict(cls, state: dict) -> "OrthogonalMap":
        def norm(s):
            return IterativeNormalization(len(s["means"]), list(s["means"]), s["raw_mean"], s["raw_scale"])

        return cls(norm(state["source"]), norm(state["reference"]), state["rotation"])
