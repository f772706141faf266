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

:func:`same_layer_bootstrap` gives the error bar: CKA recomputed on resamples of the n
rows (drawn with replacement, :func:`bootstrap_indices`), all resamples at once, in kernel
space. A resample is a vector w of multiplicities (Σw = n); centred on its own mean, its
‖YᵀX‖²_F is, with K = XXᵀ, L = YYᵀ, a = Kw/n, b = Lw/n, c = wᵀKw/n², d = wᵀLw/n²,

    wᵀ(K∘L)w − 2n Σᵢ wᵢaᵢbᵢ + n²cd

so every resample comes from a few products of the resamples x n matrix W with n x n
kernels: O(resamples n²) time and O(n²) memory, whatever the width d.
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


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` x ``n`` row indices drawn with replacement. They depend on (n, resamples,
    seed) only, so every comparison of the same n inputs is resampled alike: the replicates
    of two such comparisons are paired, and their difference has a bootstrap error of its own."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


@dataclass
class _Resampled:
    """One side's kernel and, per resample (rows of the multiplicities W), each row's product
    with the resample's mean, the mean's squared norm and each row's centred squared norm."""

    kernel: torch.Tensor  # n x n
    projection: torch.Tensor  # resamples x n: a = Kw/n
    mean_sq: torch.Tensor  # resamples: c = wᵀKw/n²
    row_sq: torch.Tensor  # resamples x n: ‖xᵢ − μ‖² = Kᵢᵢ − 2aᵢ + c

    @classmethod
    def of(cls, x: torch.Tensor, weights: torch.Tensor) -> "_Resampled":
        x = x - x.mean(0)  # centred on the whole sample first: the resamples' own centring subtracts little
        kernel = x @ x.T
        n = weights.shape[1]
        projection = weights @ kernel / n
        mean_sq = (weights * projection).sum(1) / n
        return cls(kernel, projection, mean_sq, kernel.diagonal() - 2 * projection + mean_sq[:, None])


def _resampled_hsic(a: _Resampled, b: _Resampled, weights: torch.Tensor, debiased: bool) -> torch.Tensor:
    """HSIC(a, b) on every resample, the same estimator as :func:`_cross` on the resampled
    rows. Centred rows sum to zero, so the debiased terms need only the rows' ‖xᵢ − μ‖²
    (K̃1 = −that, 1ᵀK̃1 = −its sum)."""
    n = weights.shape[1]
    frobenius = ((weights @ (a.kernel * b.kernel)) * weights).sum(1)
    frobenius = frobenius - 2 * n * (weights * a.projection * b.projection).sum(1) + n * n * a.mean_sq * b.mean_sq
    if not debiased:
        return frobenius
    both = (weights * a.row_sq * b.row_sq).sum(1)
    totals = [(weights * side.row_sq).sum(1) for side in (a, b)]
    return (frobenius - both + totals[0] * totals[1] / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * both) / (n * (n - 3))


def same_layer_bootstrap(
    xs: Sequence, ys: Sequence, indices: np.ndarray, debiased: bool = False, dtype=torch.float64, device="cpu"
) -> np.ndarray:
    """CKA of ``xs[l]`` with ``ys[l]`` (each n x d, the same n rows) on each resample of the
    rows (``indices``: resamples x n, see :func:`bootstrap_indices`): a resamples x layers
    array, each entry what :func:`linear_cka` gives on that resample's rows."""
    if len(xs) != len(ys):
        raise ValueError(f"same-layer CKA needs as many layers on both sides, got {len(xs)} and {len(ys)}")
    resamples, n = indices.shape
    _check(n, debiased)
    rows = torch.as_tensor(indices, device=device)
    weights = torch.zeros(resamples, n, dtype=dtype, device=device).scatter_add_(
        1, rows, torch.ones(rows.shape, dtype=dtype, device=device)
    )
    out = np.empty((resamples, len(xs)))
    for layer, pair in enumerate(zip(xs, ys)):
        sides = [torch.as_tensor(m).to(device=device, dtype=dtype) for m in pair]
        if any(m.shape[0] != n for m in sides):
            raise ValueError(f"layer {layer}: the indices resample {n} rows, the matrices have "
                             f"{sides[0].shape[0]} and {sides[1].shape[0]}")
        a, b = (_Resampled.of(m, weights) for m in sides)
        denominator = torch.sqrt(_resampled_hsic(a, a, weights, debiased) * _resampled_hsic(b, b, weights, debiased))
        cka = torch.where(denominator > 0, _resampled_hsic(a, b, weights, debiased) / denominator, torch.nan)
        out[:, layer] = cka.cpu().numpy()
    return out
