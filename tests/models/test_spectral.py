"""The warm-started block iteration (models.spectral) against the full eigen-solve it replaces and
against torch's float64 SVD: 1e-4 relative on real sweeps and on hard cases."""

import numpy as np
import pytest
import torch

import models
from models import spectral
from models.spectral import WARM_FROM, bounded_above, sequence_spectral_norms, spectral_norm

pytestmark = pytest.mark.usefixtures("one_thread")


def _svd_norm(matrices):
    return torch.linalg.matrix_norm(matrices.double(), ord=2)


def _sweep_products(cell, H, T, init, seed):
    """dh_T/dh_t for every t of one fresh net (the matrices the Jacobian norms are taken of)."""
    net = models.build(cell, 3, H, seed=seed, init=init)
    x = torch.randn(T, 1, 3, generator=torch.Generator().manual_seed(seed))
    fws, ws, _ = net._forward_all(x, torch.zeros(1, 1, H), torch.zeros(1, 1, H) if cell == "lstm" else None)
    eye = torch.eye(H).expand(1, H, H)
    seed_c = torch.cat([torch.zeros_like(eye), eye], 1) if cell == "lstm" else None
    seed_h = torch.cat([eye, torch.zeros_like(eye)], 1) if cell == "lstm" else eye
    rev = net.spec.reverse(fws[0][0], ws[0][0], None, seed_h, seed_c, store=False)
    return rev.grad_h[:, :, :H], net.spec.step_jacobian(fws[0][0], ws[0][0])


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
@pytest.mark.parametrize("init", ["torch", "orthogonal", "xavier"])
def test_real_sweeps_match_the_eigen_solve(cell, init):
    products, steps = _sweep_products(cell, 64, 150, init, seed=len(cell) + len(init))
    assert min(products.shape[-2:]) >= WARM_FROM  # the warm-started path, not the fallback
    for matrices, backward in ((products, True), (steps, False)):
        got = sequence_spectral_norms(matrices, backward=backward)
        assert got.dtype == torch.float64
        exact = _svd_norm(matrices)
        held = exact > 1e-30  # below this float32's products have lost their digits anyway
        torch.testing.assert_close(got[held], exact[held], rtol=1e-4, atol=0)
        torch.testing.assert_close(got[held], spectral_norm(matrices).double()[held], rtol=1e-4, atol=0)


def test_hard_sequences():
    """Random matrices with no relation step to step, equal singular values (a scaled orthogonal
    matrix: every vector is a top one), a rank-one matrix, a near tie at the top, zeros, NaN, inf, and
    the batch axis."""
    gen = torch.Generator().manual_seed(0)
    H = 64
    random = torch.randn(6, H, H, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(H, H, generator=gen))
    u, v = torch.randn(H, 1, generator=gen), torch.randn(1, H, generator=gen)
    s = torch.linspace(1, 0.1, H)
    s[1] = 0.99999
    tie = q @ torch.diag(s) @ q.T
    nan, inf = random[0].clone(), random[1].clone()
    nan[3, 4], inf[5, 6] = float("nan"), float("inf")
    seq = torch.stack([*random, 0.3 * q, u @ v, tie, torch.zeros(H, H), nan, inf, 1e-30 * random[2]])
    batch = torch.stack([seq, seq.flip(0)], 1)  # (T, 2, H, H)
    got = sequence_spectral_norms(batch)
    exact = torch.stack([_svd_norm(torch.nan_to_num(seq)), _svd_norm(torch.nan_to_num(seq.flip(0)))], 1)
    finite = torch.isfinite(batch).flatten(-2).all(-1)
    torch.testing.assert_close(got[finite], exact[finite], rtol=1e-4, atol=0)
    assert torch.isnan(got[-3, 0]) and torch.isinf(got[-2, 0]) and got[-4, 0] == 0
    assert torch.isnan(got[2, 1]) and torch.isinf(got[1, 1])


def test_small_and_gpu_path_matrices_use_the_eigen_solve():
    small = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(sequence_spectral_norms(small), spectral_norm(small).double())


def test_the_cholesky_test_bounds_the_largest_eigenvalue():
    gen = torch.Generator().manual_seed(2)
    q, _ = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))
    lam = torch.linspace(1.0, 0.01, 64, dtype=torch.float64)
    lam[0] = 2.0
    gram = (q @ torch.diag(lam) @ q.T).numpy()[None]
    assert bounded_above(gram, np.array([2.0 * (1 + 1e-9)]))[0]
    assert not bounded_above(gram, np.array([2.0 * (1 - 1e-9)]))[0]
    assert not bounded_above(np.full((1, 64, 64), np.nan), np.array([1.0]))[0]


def test_a_clear_top_over_a_long_tail_is_proven_by_cholesky(monkeypatch):
    """Singular values 1, then 63 at about 0.3: the block holds the top direction at once, but the tail
    sums to far more than TOLERANCE, so only the Cholesky test can prove the answer without the
    eigen-solve."""
    gen = torch.Generator().manual_seed(3)
    H, T = 64, 40
    u, _ = torch.linalg.qr(torch.randn(H, H, generator=gen))
    s = torch.cat([torch.ones(1), 0.3 + 0.01 * torch.rand(H - 1, generator=gen)])
    size = torch.exp(torch.randn(T, generator=gen))
    v = torch.linalg.qr(torch.randn(T, H, H, generator=gen))[0]
    seq = size[:, None, None] * (u * s) @ v.transpose(1, 2)  # U diag(s) V_t^T, one left basis
    proven = []

    def spy(gram, mu):
        ok = bounded_above(gram, mu)
        proven.append(int(ok.sum()))
        return ok

    monkeypatch.setattr(spectral, "bounded_above", spy)
    got = sequence_spectral_norms(seq[:, None], backward=True)[:, 0]
    torch.testing.assert_close(got, _svd_norm(seq), rtol=1e-4, atol=0)
    assert sum(proven) == T  # none left to the eigen-solve


def test_the_eigen_solve_gives_nan_inf_and_zero_for_what_the_matrix_holds():
    m = torch.randn(7, 5, 7, generator=torch.Generator().manual_seed(4))
    m[1, 2, 3] = float("nan")
    m[2, 0, 0] = float("inf")
    m[3, 1, 1] = -float("inf")
    m[4] = 0
    m[5, 0, 0], m[5, 1, 1] = float("nan"), float("inf")
    m[6] *= 1e30  # its Gram matrix would overflow float32 unscaled
    got = spectral_norm(m)
    assert torch.isnan(got[1]) and got[2] == torch.inf and got[3] == torch.inf and got[4] == 0
    assert torch.isnan(got[5])
    held = [0, 6]
    torch.testing.assert_close(got[held].double(), _svd_norm(m[held]), rtol=1e-5, atol=0)
