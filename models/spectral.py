"""Largest singular values: of one batch of matrices (an eigen-solve each), and of a sequence of
matrices that share their leading directions (a block iteration on all of them at once, certified).

The Jacobian norms ||dh_T/dh_t||_2 are the largest singular values of T matrices, H x H, from one
sweep: a full symmetric eigen-solve of each Gram matrix costs several times the sweep itself
(bench/RESULTS.md). The products dh_T/dh_t = J_T ... J_(t+1) gain a factor on the right as t goes
back, so their leading left directions (in h_T's space) settle, and a few dozen steps back most of
their size is in a few of them. So one block of BLOCK vectors, the leading directions of the longest
product, starts the iteration on A = G G^T of every product at once (ITERATIONS batched steps, no loop
over t), and each answer is accepted only with a proof: the block's Ritz values
theta_1 >= ... >= theta_P are lower bounds of the top eigenvalues (Cauchy interlacing) and
trace(A) = ||G||_F^2 is the sum of all of them, none negative, so

    theta_1 <= lambda_1 = trace(A) - (lambda_2 + ... + lambda_M) <= ||G||_F^2 - (theta_2 + ... + theta_P)

and where the two ends are within TOLERANCE the largest singular value is known to TOLERANCE / 2.
That bound is free but needs nearly all of the size in the block's directions. Where it fails, the
top Ritz value may still have converged (a clear top direction over a long tail of small ones): then
mu = theta_1 (1 + TOLERANCE) is proven above lambda_1 when mu I - A is positive definite, which a
Cholesky factorization decides for a third of an eigen-solve's cost (rounding moves that test by
about H * 1e-16 relative, far below TOLERANCE). A matrix whose size is spread over many directions
(the first steps back, an orthogonal W_hh) passes neither test and gets the exact eigen-solve: the
answer is never an estimate.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

BLOCK = 8  # vectors in the block
TOLERANCE = 1e-4  # accepted when the upper bound of lambda_1 is within this of the lower (sigma: 5e-5)
ITERATIONS = 2
WARM_FROM = 48  # the smaller side from which the block iteration beats one eigen-solve per matrix
CHUNK = 64  # uncertified products given the Cholesky test and the eigen-solve at a time


def spectral_norm(matrices: Tensor) -> Tensor:
    """Largest singular value of each (..., M, N) matrix; inf or NaN where the matrix holds them."""
    # max |entry| of each matrix: NaN where it holds a NaN, inf where an inf (and no NaN)
    scale = torch.maximum(matrices.amax(dim=(-2, -1)), -matrices.amin(dim=(-2, -1)))
    finite = torch.isfinite(scale)
    # scaled to max |entry| = 1 so the Gram matrix cannot overflow in an exploding run
    unit = matrices / torch.where(finite & (scale > 0), scale, 1.0)[..., None, None]
    if not bool(finite.all()):
        unit = torch.where(finite[..., None, None], unit, torch.zeros((), dtype=unit.dtype))
    # the largest singular value as sqrt(largest eigenvalue of the Gram matrix): a third of an SVD's cost
    wide = unit.shape[-2] <= unit.shape[-1]
    gram = unit @ unit.transpose(-1, -2) if wide else unit.transpose(-1, -2) @ unit
    try:
        largest = torch.linalg.eigvalsh(gram)[..., -1].clamp(min=0).sqrt()
    except torch.linalg.LinAlgError:  # eigh did not converge on some matrix: fall back to the SVD
        largest = torch.linalg.matrix_norm(unit, ord=2)
    return torch.where(finite, largest * scale, scale)  # NaN or inf: the scale says which


def sequence_spectral_norms(matrices: Tensor, backward: bool = False) -> Tensor:
    """Largest singular value of each (T, B, M, N) matrix, float64 (T, B). ``backward``: the matrices
    are a reverse sweep's products dh_T/dh_t, so the longest product, the block's start, is at t = 0
    (else at T - 1).

    Small matrices, and matrices on a GPU, get the batched eigen-solve (spectral_norm)."""
    T, B, M, N = matrices.shape
    if min(M, N) < WARM_FROM or matrices.device.type != "cpu" or T * B == 0:
        return spectral_norm(matrices).to(torch.float64)
    values = matrices.detach().numpy()
    out = np.empty((T, B))
    for b in range(B):
        out[:, b] = _block_iteration(values[:, b], backward)
    return torch.from_numpy(out)


def _block_iteration(values: np.ndarray, backward: bool) -> np.ndarray:
    """The largest singular value of each of the (T, M, N) matrices, float64 (T,): every matrix's block
    iterated at once, each answer certified or computed by the exact eigen-solve."""
    # max |entry|: NaN where a NaN is, inf where an inf is; those, and zero matrices, are their own answer
    largest = np.maximum(values.max(axis=(1, 2)), -values.min(axis=(1, 2))).astype(np.float64)
    out = largest.copy()
    live = np.flatnonzero(np.isfinite(largest) & (largest > 0))
    if live.size == 0:
        return out
    # max |entry| 1: the products below cannot overflow or underflow
    G = values[live] * (1 / largest[live]).astype(values.dtype)[:, None, None]
    trace = np.einsum("tij,tij->t", G, G, dtype=np.float64)  # trace(G G^T); the bound subtracts from it
    deep = G[0 if backward else -1].astype(np.float64)  # the longest product: the others' directions
    block = np.linalg.eigh(deep @ deep.T)[1][:, -BLOCK:].astype(G.dtype)
    block = np.broadcast_to(block, (live.size, *block.shape))
    top = np.full(live.size, np.nan)
    for i in range(ITERATIONS):
        Z = G @ (G.transpose(0, 2, 1) @ block)  # A block
        ritz = np.linalg.eigvalsh((block.transpose(0, 2, 1) @ Z).astype(np.float64))  # ascending
        theta = ritz[:, -1]
        proven = np.isnan(top) & (trace - ritz[:, :-1].sum(axis=1) <= theta * (1 + TOLERANCE))
        top[proven] = theta[proven]
        if i + 1 < ITERATIONS:
            block = torch.linalg.qr(torch.from_numpy(Z))[0].numpy()  # a third of NumPy's batched qr
    # the rest: the Cholesky test, then the exact eigen-solve of those it cannot prove, on one float64
    # Gram matrix, CHUNK products at a time (a few MB however long the sequence)
    unproven = np.flatnonzero(np.isnan(top))
    for start in range(0, unproven.size, CHUNK):
        part = unproven[start : start + CHUNK]
        rest = G[part].astype(np.float64)
        gram = rest @ rest.transpose(0, 2, 1)
        ok = bounded_above(gram, theta[part] * (1 + TOLERANCE))
        top[part] = np.where(ok, theta[part], np.nan)
        if not ok.all():  # not certified: the exact answer for these
            top[part[~ok]] = np.linalg.eigvalsh(gram[~ok])[:, -1]
    out[live] = np.sqrt(np.maximum(top, 0.0)) * largest[live]
    return out


def bounded_above(gram: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """Whether each symmetric (n, M, M) float64 matrix's largest eigenvalue is below mu (n,): mu I - A
    positive definite, decided by a batched Cholesky factorization (it fails on any other)."""
    shifted = np.negative(gram)
    diagonal = np.arange(gram.shape[-1])
    shifted[:, diagonal, diagonal] += mu[:, None]
    info = torch.linalg.cholesky_ex(torch.from_numpy(shifted)).info
    return info.numpy() == 0
