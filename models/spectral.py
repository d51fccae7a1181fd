"""Largest singular values: of one batch of matrices (an eigen-solve each), and of a sequence of
matrices that share their leading directions from one step to the next (a warm-started block
iteration, certified).

The Jacobian norms ||dh_T/dh_t||_2 are the largest singular values of T matrices, H x H, from one
sweep: a full symmetric eigen-solve of each Gram matrix costs about 10 times the sweep itself at
H = 128 (bench/RESULTS.md). Consecutive products dh_T/dh_t share their leading directions (they
differ by one factor) and, a few dozen steps back, most of their size is in a few directions. So a
block of BLOCK vectors, started from the step before, is iterated on A = G G^T, and the answer is
accepted only with a proof: the block's Ritz values theta_1 >= ... >= theta_P are lower bounds of
the top eigenvalues (Cauchy interlacing) and trace(A) = ||G||_F^2 is their sum, so

    theta_1 <= lambda_1 = trace(A) - (lambda_2 + ... + lambda_M) <= ||G||_F^2 - (theta_2 + ... + theta_P)

and where the two ends are within TOLERANCE the largest singular value is known to TOLERANCE / 2.
A matrix whose size is spread over many directions (the first steps back, an orthogonal W_hh) is
not certified in MAX_ITERATIONS and gets the exact eigen-solve: the answer is never an estimate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

BLOCK = 4  # vectors in the block
TOLERANCE = 1e-4  # accepted when the upper bound of lambda_1 is within this of the lower (sigma: 5e-5)
MAX_ITERATIONS = 3
WARM_FROM = 48  # the smaller side from which the block iteration beats one eigen-solve per matrix


def spectral_norm(matrices: Tensor) -> Tensor:
    """Largest singular value of each (..., M, N) matrix; inf or NaN where the matrix holds them."""
    finite = torch.isfinite(matrices).flatten(-2).all(-1)
    safe = torch.where(finite[..., None, None], matrices, torch.zeros((), dtype=matrices.dtype))
    # scaled to max |entry| = 1 so the Gram matrix cannot overflow in an exploding run
    scale = safe.abs().amax(dim=(-2, -1), keepdim=True)
    unit = safe / torch.where(scale > 0, scale, torch.ones((), dtype=scale.dtype))
    # the largest singular value as sqrt(largest eigenvalue of the Gram matrix): a third of an SVD's cost
    wide = unit.shape[-2] <= unit.shape[-1]
    gram = unit @ unit.transpose(-1, -2) if wide else unit.transpose(-1, -2) @ unit
    try:
        largest = torch.linalg.eigvalsh(gram)[..., -1].clamp(min=0).sqrt()
    except torch.linalg.LinAlgError:  # eigh did not converge on some matrix: fall back to the SVD
        largest = torch.linalg.matrix_norm(unit, ord=2)
    norms = largest * scale[..., 0, 0]
    has_nan = torch.isnan(matrices).flatten(-2).any(-1)
    return torch.where(finite, norms, torch.where(has_nan, torch.nan, torch.inf).to(norms.dtype))


def sequence_spectral_norms(matrices: Tensor, backward: bool = False) -> Tensor:
    """Largest singular value of each (T, B, M, N) matrix, float64 (T, B), each step's iteration started
    from the step before (from T-1 down when ``backward``: a reverse sweep's products).

    Small matrices, and matrices on a GPU, get the batched eigen-solve (spectral_norm)."""
    T, B, M, N = matrices.shape
    if min(M, N) < WARM_FROM or matrices.device.type != "cpu" or T * B == 0:
        return spectral_norm(matrices).to(torch.float64)
    values = matrices.detach().numpy()
    out = np.empty((T, B))
    order = range(T - 1, -1, -1) if backward else range(T)
    for b in range(B):
        _track(values[:, b], order, out[:, b])
    return torch.from_numpy(out)


def _track(values: np.ndarray, order, out: np.ndarray) -> None:
    """Fill out[t] with the largest singular value of values[t] (M, N), in ``order``."""
    M = values.shape[1]
    block = np.linalg.qr(np.random.default_rng(0).standard_normal((M, BLOCK)))[0].astype(values.dtype)
    for t in order:
        G = values[t]
        largest = max(float(G.max()), -float(G.min()))  # NaN if any NaN, inf if any inf
        if not np.isfinite(largest) or largest == 0:
            out[t] = largest
            continue
        G = G * (1 / largest)  # max |entry| 1: the products below cannot overflow or underflow
        flat = G.reshape(-1).astype(np.float64)
        trace = float(flat @ flat)  # trace(G G^T), in float64: the bound below subtracts from it
        for _ in range(MAX_ITERATIONS):
            Z = G @ (G.T @ block)  # A block
            ritz = np.linalg.eigvalsh((block.T @ Z).astype(np.float64))  # ascending; block orthonormal
            block = np.linalg.qr(Z)[0]
            theta = float(ritz[-1])
            if trace - float(ritz[:-1].sum()) <= theta * (1 + TOLERANCE):
                break
        else:  # not certified: the exact answer for this one
            theta = float(np.linalg.eigvalsh((G @ G.T).astype(np.float64))[-1])
        out[t] = np.sqrt(max(theta, 0.0)) * largest
