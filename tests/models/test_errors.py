"""Bad input: a ValueError that names what is wrong and what is allowed. NaN and inf are data."""

import pytest
import torch

import models


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: models.build("lstmx", 2, 3), ["cell", "'lstm'"]),
        (lambda: models.build("lstm", 2, 0), ["hidden_size", "[1, 4096]"]),
        (lambda: models.build("lstm", 2, 3, num_layers=9), ["num_layers", "[1, 8]"]),
        (lambda: models.build("lstm", 2, 3, init="he"), ["init", "'orthogonal'"]),
        (lambda: models.build("rnn_tanh", 2, 3, spectral_radius=-1), ["spectral_radius", "[0, 100]"]),
        (lambda: models.build("rnn_tanh", 2, 3, spectral_radius=float("nan")), ["spectral_radius"]),
        (lambda: models.build("gru", 2, 3, forget_bias=1.0), ["forget_bias", "LSTM"]),
        (lambda: models.build("lstm", 2, 3, update_bias=1.0), ["update_bias", "GRU"]),
        (lambda: models.build("lstm", 2, 3, clamp={"z": 1.0}), ["clamp", "'z'", "i, f, g, o"]),
        (lambda: models.build("lstm", 2, 3, clamp={"f": 1.5}), ["clamp.f", "[0, 1]"]),
        (lambda: models.build("lstm", 2, 3, clamp={"g": -2}), ["clamp.g", "[-1, 1]"]),
        (lambda: models.build("rnn_tanh", 2, 3, clamp={"i": 0.0}), ["clamp", "none"]),
        (lambda: models.build("gru", 2, 3, device="tpu"), ["device", "'cpu'"]),
        (lambda: models.build("gru", 2, 3, dtype="float16"), ["dtype", "'float64'"]),
        (lambda: models.build("gru", 2, 3, seed=-1), ["seed"]),
        (lambda: models.from_torch(torch.nn.Linear(2, 3)), ["module", "LSTM"]),
        (lambda: models.from_torch(torch.nn.LSTM(2, 4, proj_size=2)), ["proj_size"]),
    ],
)
def test_bad_options_name_the_field(call, words):
    with pytest.raises(ValueError) as err:
        call()
    for word in words:
        assert word in str(err.value), (word, str(err.value))


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_unavailable_is_explained():
    with pytest.raises(ValueError, match=r"device: 'cuda'.*no CUDA GPU"):
        models.build("gru", 2, 3, device="cuda")
    assert models.resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize(
    ("x", "words"),
    [
        (torch.zeros(5), ["x", "(T, D) or (T, B, D)"]),
        (torch.zeros(5, 1, 1, 2), ["x", "(T, D) or (T, B, D)"]),
        (torch.zeros(5, 3), ["x", "input_size is 2"]),
        (torch.zeros(0, 1, 2), ["seq_len", "[1, 100000]"]),
    ],
)
def test_bad_input_shape(x, words):
    net = models.build("lstm", 2, 3)
    with pytest.raises(ValueError) as err:
        net.trace(x)
    for word in words:
        assert word in str(err.value)


def test_bad_loss_and_initial_state():
    net = models.build("lstm", 2, 3)
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="loss: 'mean' is not one of"):
        net.trace(x, loss="mean")
    with pytest.raises(ValueError, match="scalar"):
        net.trace(x, loss=lambda out: out)
    with pytest.raises(ValueError, match=r"hx: h0 has shape \(2, 1, 3\), expected \(1, 1, 3\)"):
        net.trace(x, hx=(torch.zeros(2, 1, 3), torch.zeros(1, 1, 3)))
    with pytest.raises(ValueError, match="hx: an LSTM takes"):
        net.trace(x, hx=torch.zeros(1, 1, 3))
    # the net keeps working after the errors
    assert net.trace(x).finite


def test_exploding_run_keeps_inf_and_nan_as_data():
    """tanh RNN at h = 0 with W_hh = 3Q: the gradient grows exactly 3x a step back. It overflows float32
    after about 80 steps (grad_h is inf there, as data), while the float64 norms carry the exact 3^lag
    up to float64's own overflow near lag 646, and are inf after it."""
    net = models.build("rnn_tanh", 1, 4, seed=0, init="orthogonal", spectral_radius=3.0)
    T = 700
    x = torch.zeros(T, 1, 1)
    tr = net.trace(x, jacobian=True)
    assert torch.isinf(tr.grad_h).any() and tr.nonfinite["grad_h"] and not tr.finite
    assert torch.isfinite(tr.grad_h[0, -5:]).all()  # the last steps are still finite: no silent zeros
    assert tr.grad_h_norm.dtype == torch.float64 and tr.jacobian_norm.dtype == torch.float64
    lag = torch.arange(T - 1, -1, -1, dtype=torch.float64)
    exact = 3.0**lag  # inf in float64 from lag 647
    held = torch.isfinite(exact)
    assert (~held).any() and held[-100:].all()
    # the loss sums the last output: dL/dh_{T-1} = (1, 1, 1, 1), norm 2
    torch.testing.assert_close(tr.grad_h_norm[0, held, 0], 2 * exact[held], rtol=2e-4, atol=0)
    torch.testing.assert_close(tr.jacobian_norm[0, held, 0], exact[held], rtol=2e-4, atol=0)
    far = lag > 648
    assert torch.isinf(tr.grad_h_norm[0, far, 0]).all() and torch.isinf(tr.jacobian_norm[0, far, 0]).all()
    assert tr.nonfinite["grad_h_norm"] == (not bool(torch.isfinite(tr.grad_h_norm).all()))
    x_nan = torch.randn(10, 1, 1)
    x_nan[3] = float("nan")
    tr = models.build("lstm", 1, 3).trace(x_nan, jacobian=True)
    assert torch.isnan(tr.h[0, 3:]).all() and not torch.isnan(tr.h[0, :3]).any()
    assert tr.nonfinite["h"] and tr.nonfinite["gates"]
