"""The liquid time-constant (LTC) cell against ncps' own LTC module (the oracle: written and published by
the LTC's authors) in both of its parameter settings, its torch module for training, and what it refuses.

The parametrized engine tests (parity, gradients against autograd through ncps' LTCCell, dL/dx, float64
finite differences, Jacobian norms, the torch-ops path, tiny norms, one training step) cover it too,
through tests/reference.py."""

import functools

import pytest
import torch
from ncps.torch import LTC
from ncps.wirings import NCP, Random

import models
from models.cells.ltc import UNFOLDS
from models.unrolled import Unrolled
from tests.reference import ncps_module

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = {torch.float32: 2e-5, torch.float64: 1e-12}


ncps_ltc = functools.partial(ncps_module, "ltc")


def run_both(module, net, x, dtype):
    """The module's output, h_n and dL/dx (loss: the output's sum) against the net's trace."""
    h0 = torch.randn(x.shape[1], net.hidden_size, dtype=dtype)  # ncps' own zeros are float32
    tr = net.trace(x, hx=h0.unsqueeze(0), loss="sum")
    xr = x.clone().requires_grad_(True)
    out, h_n = module(xr, h0)
    out.sum().backward()
    tol = TOL[dtype]
    torch.testing.assert_close(tr.output, out.detach(), atol=tol, rtol=tol)
    torch.testing.assert_close(tr.h_n[0], h_n.detach(), atol=tol, rtol=tol)
    torch.testing.assert_close(tr.grad_x, xr.grad, atol=10 * tol, rtol=10 * tol)
    return tr


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("implicit", [True, False])
def test_ncps_ltc_read_by_from_torch_gives_its_outputs_and_gradients(dtype, implicit):
    """Both of ncps' parameter settings: with implicit_param_constraints (its LTC's default) the module's
    conductances and capacitance pass through a softplus, without they are used as they are."""
    module = ncps_ltc(3, 6, dtype, implicit_param_constraints=implicit)
    net = models.from_torch(module)
    assert net.cell == "ltc" and (net.input_size, net.hidden_size, net.num_layers) == (3, 6, 1)
    run_both(module, net, torch.randn(25, 2, 3, dtype=dtype), dtype)


def test_a_trained_input_mapping_and_a_sparse_wiring_are_read():
    """An affine input mapping (x w + b) is folded into the sensory sigmoids, a sparse wiring's masks
    into the conductances: the outputs and gradients are the module's."""
    module = ncps_ltc(3, Random(7, output_dim=7, sparsity_level=0.5, random_seed=3), torch.float64)
    with torch.no_grad():
        module.rnn_cell.input_w.copy_(torch.tensor([0.5, -2.0, 1.5]))
        module.rnn_cell.input_b.copy_(torch.tensor([0.3, 0.0, -1.0]))
    assert (module.rnn_cell.sparsity_mask == 0).any()
    run_both(module, models.from_torch(module), torch.randn(20, 3, 3, dtype=torch.float64), torch.float64)


def test_tau_and_keep_are_the_ode_s_numbers():
    """tau = cm / (gleak + the synapses' conductances at v_(t-1)) and keep = the product over the six
    unfolds of cm_t / (cm_t + gleak + conductances + eps), written out here from ncps' tables."""
    module = ncps_ltc(2, 5, torch.float64, seed=4, implicit_param_constraints=False)
    net = models.from_torch(module)
    x = torch.randn(10, 1, 2, dtype=torch.float64)
    tr = net.trace(x)
    c = module.rnn_cell
    p = {n: getattr(c, n).detach() for n in ("gleak", "vleak", "cm", "sigma", "mu", "w", "erev")}
    sp = {n: getattr(c, "sensory_" + n).detach() for n in ("sigma", "mu", "w", "erev")}
    v = torch.zeros(1, 5, dtype=torch.float64)
    for t in range(10):
        xt = x[t] * c.input_w.detach() + c.input_b.detach()
        r = sp["w"] * torch.sigmoid(sp["sigma"] * (xt[..., None] - sp["mu"]))  # (1, D, H) from d to j
        keep = torch.ones(1, 5, dtype=torch.float64)
        for u in range(UNFOLDS):
            s = p["w"] * torch.sigmoid(p["sigma"] * (v[..., None] - p["mu"]))  # (1, H, H) from i to j
            conductance = p["gleak"] + s.sum(1) + r.sum(1)
            if u == 0:
                torch.testing.assert_close(tr.gates["tau"][0, t], p["cm"] / conductance, atol=1e-13, rtol=0)
            cm_t = p["cm"] * UNFOLDS
            den = cm_t + conductance + 1e-8
            keep = keep * cm_t / den
            v = (cm_t * v + p["gleak"] * p["vleak"] + (s * p["erev"]).sum(1) + (r * sp["erev"]).sum(1)) / den
        torch.testing.assert_close(tr.gates["keep"][0, t], keep, atol=1e-13, rtol=1e-12)
        torch.testing.assert_close(tr.h[0, t], v, atol=1e-13, rtol=0)
    assert ((tr.gates["keep"] > 0) & (tr.gates["keep"] < 1) & (tr.gates["tau"] > 0)).all()


@pytest.mark.parametrize(("layers", "bidirectional"), [(1, False), (2, True)])
def test_its_torch_module_is_ncps_ltc_and_reads_back(layers, bidirectional):
    """RecurrentNet.to_torch for the LTC (what training runs) is the step unrolled with autograd; one
    layer of it equals ncps' module read into the net, and from_torch reads it back unchanged."""
    net = models.build("ltc", 3, 4, layers, bidirectional, seed=2, dtype="float64")
    module = net.to_torch()
    assert isinstance(module, Unrolled) and module.cell == "ltc"
    x = torch.randn(9, 2, 3, dtype=torch.float64)
    out, h_n = module(x)
    tr = net.trace(x)
    torch.testing.assert_close(out.detach(), tr.output, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n.detach(), tr.h_n, atol=1e-12, rtol=0)
    back = models.from_torch(module)
    assert back.cell == "ltc" and all(torch.equal(back.weights[k], v) for k, v in net.weights.items())


def test_training_s_constraint_clips_what_must_stay_positive():
    """After an optimizer step the conductances w, the sensory w, gleak and cm are clipped at 0 (ncps'
    apply_weight_constraints); sigma, mu, the reversal potentials and vleak are left as they are."""
    module = models.build("ltc", 2, 3, seed=1, dtype="float64").to_torch()
    with torch.no_grad():
        for p in module.parameters():
            p.sub_(0.8)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    module.constrain()
    after = module.state_dict()
    H = 3
    for name, rows in (("weight_hh_l0", slice(2 * H, 3 * H)), ("weight_ih_l0", slice(2 * H, 3 * H))):
        assert torch.equal(after[name][rows], before[name][rows].clamp(min=0))
        others = [r for r in range(4 * H) if not rows.start <= r < rows.stop]
        assert torch.equal(after[name][others], before[name][others])
    total = after["bias_ih_l0"] + after["bias_hh_l0"]
    assert (total[:H] >= 0).all() and (total[2 * H : 3 * H] >= 0).all()
    assert torch.equal(after["bias_ih_l0"][H : 2 * H], before["bias_ih_l0"][H : 2 * H])


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: LTC(2, 3, ode_unfolds=65), r"ode_unfolds=65 \(allowed: 1 to 64\)"),
        (lambda: LTC(2, 3, epsilon=1e-6), r"epsilon=1e-06 \(allowed: 1e-08\)"),
        (lambda: LTC(2, 3, mixed_memory=True), "mixed_memory=True"),
        (lambda: LTC(2, NCP(3, 2, 1, 2, 2, 1, 1)), "a wiring with 1 motor neurons of 6"),
    ],
)
def test_an_ltc_with_options_the_cell_does_not_compute_is_refused_by_name(make, says):
    with pytest.raises(ValueError, match=f"module: this ncps LTC has {says}"):
        models.from_torch(make())


def test_a_trained_output_mapping_is_refused():
    module = LTC(2, 3)
    with torch.no_grad():
        module.rnn_cell.output_w.mul_(2)
    with pytest.raises(ValueError, match="an output mapping other than the identity"):
        models.from_torch(module)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match=r"clamp: ltc has no gate 'keep'; gates that can be clamped: none"):
        models.build("ltc", 2, 3, clamp={"keep": 0.5})
    with pytest.raises(ValueError, match="forget_bias: only LSTM takes it, not 'ltc'"):
        models.build("ltc", 2, 3, forget_bias=1.0)
    with pytest.raises(ValueError, match=r"cell: 'lstm' computes torch\.nn\.LSTM\(\), not this LTC"):
        models.from_torch(LTC(2, 3), cell="lstm")


def test_an_ltc_trainer_learns_the_adding_problem_and_to_keep_more():
    """Training runs on its unrolled torch module with ncps' clipping; 800 Adam steps take the adding
    problem's loss well under the constant predictor's (measured: 3% of it, after a plateau near it
    until about step 700), and the share of v each step keeps grows (measured: 0.05 at step 200, 0.21
    at 800)."""
    tr = models.Trainer("ltc", task="adding", seq_len=20, hidden_size=16, batch_size=32, seed=0, lr=1e-2)
    tr.run(800)
    keep = [float(p.gate_mean["keep"][0]) for p in tr.probes]
    assert tr.net.cell == "ltc" and keep[-1] > 2 * keep[0]
    assert tr.evaluate() < 0.25 * tr.baseline
    total = tr.net.weights["bias_ih_l0"] + tr.net.weights["bias_hh_l0"]
    assert (tr.net.weights["weight_hh_l0"][32:48] >= 0).all() and (total[:16] >= 0).all()


def test_its_torch_module_made_on_its_own_starts_in_ncps_ranges():
    """Unrolled("ltc", ...) made directly (not from a net) draws ncps' ranges, not torch's U(-k, k): no
    negative conductance or capacitance to start from."""
    module = Unrolled("ltc", 2, 8)
    w_hh, w_ih, b = module.weight_hh_l0.detach(), module.weight_ih_l0.detach(), module.bias_ih_l0.detach()
    assert ((w_hh[:8] >= 3) & (w_hh[:8] <= 8)).all() and ((w_hh[16:24] > 0) & (w_hh[16:24] <= 1)).all()
    assert set(w_hh[24:].unique().tolist()) <= {-1.0, 1.0} and (w_ih[16:24] > 0).all()
    assert ((b[:8] > 0) & (b[16:24] >= 0.4) & (b[16:24] <= 0.6)).all()
