"""Linear CKA (Kornblith et al. 2019) between two sets of representations of the same n
inputs, from the n x d feature matrices (never an n x n kernel).

With column-centred X and Y (K = XXᵀ, L = YYᵀ):

    CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F)

which equals HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) for the biased HSIC estimator, at
O(n d²) time and O(d²) extra memory instead of O(n² d) and O(n²).

``debiased=True`` uses the unbiased HSIC estimator (Song et al. 2012) instead, whose
terms also reduce to feature-space products: with K̃ = K − diag(K),

    tr(K̃L̃) = ‖YᵀX‖²_F − Σᵢ ‖xᵢ‖²‖yᵢ‖²,   1ᵀK̃1 = ‖Xᵀ1‖² − Σᵢ ‖xᵢ‖²,   K̃1 = X(Xᵀ1) − (‖xᵢ‖²)ᵢ
    HSIC₁ = [tr(K̃L̃) + 1ᵀK̃1 · 1ᵀL̃1 / ((n−1)(n−2)) − 2/(n−2) · (K̃1)ᵀ(L̃1)] / (n(n−3))
"""

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch


@dataclass
class _Features:
    """One centred layer and the per-row and summed quantities the estimators need."""

    x: torch.Tensor  # n x d, centred
    row_sq: torch.Tensor  # n: ‖xᵢ‖²
    row_sums: torch.Tensor  # n: K̃1
    total: torch.Tensor  # 1ᵀK̃1

    @classmethod
    def of(cls, x, dtype, device) -> "_Features":
        x = torch.as_tensor(x).to(device=device, dtype=dtype)
        x = x - x.mean(0)
        row_sq = (x * x).sum(1)
        column_sum = x.sum(0)
        return cls(x, row_sq, x @ column_sum - row_sq, column_sum @ column_sum - row_sq.sum())


def _cross(a: _Features, b: _Features, debiased: bool) -> float:
    """HSIC(a, b) up to a factor that cancels in CKA (biased: ‖bᵀa‖²_F)."""
    frobenius = torch.linalg.matrix_norm(b.x.T @ a.x) ** 2
    if not debiased:
        return float(frobenius)
    n = a.x.shape[0]
    trace = frobenius - a.row_sq @ b.row_sq
    return float(
        (trace + a.total * b.total / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * (a.row_sums @ b.row_sums)) / (n * (n - 3))
    )


def _check(n: int, debiased: bool) -> None:
    if n < (4 if debiased else 2):
        raise ValueError(f"CKA needs at least {4 if debiased else 2} inputs ({'debiased' if debiased else 'biased'}), got {n}")


def linear_cka(x, y, debiased: bool = False, dtype=torch.float64, device="cpu") -> float:
    """CKA of n x d1 ``x`` and n x d2 ``y`` (rows: the same inputs)."""
    return float(cka_matrix([x], [y], debiased, dtype, device)[0, 0])


def cka_matrix(xs: Sequence, ys: Sequence, debiased: bool = False, dtype=torch.float64, device="cpu") -> np.ndarray:
    """CKA of every layer of ``xs`` with every layer of ``ys`` (each n x d, the same n rows):
    a len(xs) x len(ys) matrix. Self-similarities are computed once per layer."""
    if len({np.shape(m)[0] for m in (*xs, *ys)}) != 1:
        raise ValueError("CKA compares representations of the same inputs: every matrix needs the same number of rows")
    _check(np.shape(xs[0])[0], debiased)
    fx = [_Features.of(m, dtype, device) for m in xs]
    fy = [_Features.of(m, dtype, device) for m in ys]
    self_x = np.array([_cross(f, f, debiased) for f in fx])
    self_y = np.array([_cross(f, f, debiased) for f in fy])
    out = np.empty((len(fx), len(fy)))
    for i, a in enumerate(fx):
        for j, b in enumerate(fy):
            denominator = np.sqrt(self_x[i] * self_y[j])
            out[i, j] = _cross(a, b, debiased) / denominator if denominator > 0 else np.nan
    return out
