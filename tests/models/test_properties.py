"""Hypothesis over shapes and options: parity with torch and gradients with autograd, in float64."""

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import models
from tests.reference import unroll

options = st.fixed_dictionaries(
    {
        "cell": st.sampled_from(models.limits.CELLS),
        "input_size": st.integers(1, 4),
        "hidden_size": st.integers(1, 6),
        "num_layers": st.integers(1, 2),
        "bidirectional": st.booleans(),
        "seed": st.integers(0, 1000),
        "init": st.sampled_from(models.limits.INIT_SCHEMES),
        "spectral_radius": st.none() | st.floats(0.1, 2.0),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(opts=options, T=st.integers(1, 7), B=st.integers(1, 3), loss=st.sampled_from(["last", "sum"]))
def test_trace_matches_references(opts, T, B, loss):
    net = models.build(**opts, dtype="float64")
    x = torch.randn(T, B, opts["input_size"], dtype=torch.float64, generator=torch.Generator().manual_seed(T))
    tr = net.trace(x, loss=loss, jacobian=True)
    module = net.to_torch()
    torch.testing.assert_close(tr.output, module(x)[0].detach(), atol=1e-10, rtol=0)
    ref_loss = None if loss == "last" else (lambda out: out.sum())
    _, h, _, grad_h, grad_c, value = unroll(net, x, ref_loss)
    torch.testing.assert_close(tr.h, h, atol=1e-10, rtol=0)
    torch.testing.assert_close(tr.grad_h, grad_h, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(tr.loss, value, atol=1e-10, rtol=0)
    if opts["cell"] == "lstm":
        torch.testing.assert_close(tr.grad_c, grad_c, atol=1e-9, rtol=1e-9)
    dirs = 2 if opts["bidirectional"] else 1
    assert tr.jacobian_norm.shape == (opts["num_layers"] * dirs, T, B)
    last = torch.tensor([T - 1, 0])[torch.arange(opts["num_layers"] * dirs) % dirs]
    # the last step's Jacobian with itself is the identity
    torch.testing.assert_close(
        tr.jacobian_norm[torch.arange(len(last)), last], torch.ones(len(last), B, dtype=torch.float64)
    )
