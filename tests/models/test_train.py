"""Training: one step against plain autograd, clipping, exact baselines, determinism, checkpoints,
the probe against independent references, bad input, an exploding run, and a net that learns."""

import copy
import math
from collections import Counter

import pytest
import torch

import models
from models import streams, tasks
from tests.reference import make_cell, unroll

pytestmark = pytest.mark.usefixtures("one_thread")


def small(cell="lstm", **kw):
    options = dict(seq_len=12, hidden_size=5, batch_size=3, val_size=4, seed=1, dtype="float64")
    return models.Trainer(cell, **{**options, **kw})


def reference_step(tr, batch):
    """The loss and every parameter's gradient by an unroll of torch.nn.*Cell, the loss written out."""
    net = tr.net
    cell = make_cell(net, 0, 0)
    weight = tr.readout.weight.detach().clone().requires_grad_(True)
    bias = tr.readout.bias.detach().clone().requires_grad_(True)
    B, H = batch.x.shape[1], net.hidden_size
    h = torch.zeros(B, H, dtype=torch.float64)
    c = torch.zeros(B, H, dtype=torch.float64)
    for x_t in batch.x:
        if net.cell == "lstm":
            h, c = cell(x_t, (h, c))
        else:
            h = cell(x_t, h)
    y = h @ weight.t() + bias  # (B, 1): the adding problem's answer at the last step
    loss = ((y[:, 0] - batch.target[-1, :, 0]) ** 2).mean()
    loss.backward()
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    layout = (
        cell.layout_grads() if hasattr(cell, "layout_grads") else {n: getattr(cell, n).grad for n in names}
    )
    grads = {f"{n}_l0": layout[n] for n in names}
    return loss.detach(), grads | {"readout.weight": weight.grad, "readout.bias": bias.grad}


def trainer_grads(tr):
    grads = {name: p.grad for name, p in tr.module.named_parameters()}
    return grads | {f"readout.{name}": p.grad for name, p in tr.readout.named_parameters()}


def trainer_weights(tr):
    weights = {name: p.detach().clone() for name, p in tr.module.named_parameters()}
    return weights | {f"readout.{name}": p.detach().clone() for name, p in tr.readout.named_parameters()}


@pytest.mark.parametrize("cell", models.limits.CELLS)
def test_one_step_matches_autograd_float64(cell):
    """Gradients, the recorded loss and norm, and SGD's first step (v = g, w -= lr * g) by hand."""
    tr = small(cell, optimizer="sgd", lr=0.1, momentum=0.9, clip=None)
    before = trainer_weights(tr)
    ref_loss, ref_grads = reference_step(tr, tr.batch(1))
    (record,) = tr.run(1)
    grads = trainer_grads(tr)
    assert set(grads) == set(ref_grads)
    for name, g in ref_grads.items():
        torch.testing.assert_close(grads[name], g, atol=1e-12, rtol=1e-10)
    assert record.loss == pytest.approx(float(ref_loss), abs=1e-12)
    norm = math.sqrt(sum(float((g**2).sum()) for g in ref_grads.values()))
    assert record.grad_norm == pytest.approx(norm, rel=1e-10) and not record.clipped
    for name, w in trainer_weights(tr).items():
        torch.testing.assert_close(w, before[name] - 0.1 * ref_grads[name], atol=1e-12, rtol=0)


def test_clipping_is_clip_grad_norm():
    tr = small("gru", optimizer="sgd", clip=0.05)
    module, readout = copy.deepcopy(tr.module), copy.deepcopy(tr.readout)
    batch = tr.batch(1)
    out, _ = module(batch.x)
    batch.loss_fn(readout, "task")(out).backward()
    params = [*module.parameters(), *readout.parameters()]
    norm = torch.nn.utils.clip_grad_norm_(params, 0.05)
    (record,) = tr.run(1)
    assert record.clipped and record.grad_norm == float(norm) > 0.05
    for p, q in zip(tr.parameters, params, strict=True):
        assert torch.equal(p.grad, q.grad)
    assert not small("gru", clip=1e4).run(1)[0].clipped


def test_set_lr_takes_effect_live():
    tr = small("lstm", optimizer="sgd", momentum=0.0, lr=0.1, clip=None)
    tr.run(1)
    tr.set_lr(0.25)
    before = trainer_weights(tr)
    (record,) = tr.run(1)
    assert record.lr == 0.25 and all(g["lr"] == 0.25 for g in tr.optimizer.param_groups)
    grads = trainer_grads(tr)
    for name, w in trainer_weights(tr).items():
        torch.testing.assert_close(w, before[name] - 0.25 * grads[name], atol=1e-14, rtol=0)
    adam = small("gru")
    adam.set_lr(1e-3)
    assert adam.run(1)[0].lr == 1e-3 and adam.optimizer.param_groups[0]["lr"] == 1e-3


def constant_loss(task, bias, classification=False):
    """The task loss of a readout that ignores the net: output = bias at every step."""
    out = torch.zeros(*task.x.shape[:2], 1, dtype=torch.float64)
    readout = tasks.Readout(torch.zeros(len(bias), 1, dtype=torch.float64), torch.tensor(bias))
    return float(task.loss_fn(readout, "task")(out))


@pytest.mark.parametrize(
    ("form", "exact", "predict", "sd"),
    # sd: of the per-example squared error; (S-1) is triangular on [-1, 1]: E(S-1)^4 = 1/15
    [("le", 1 / 6, 1.0, math.sqrt(1 / 15 - 1 / 36)), ("hochreiter", 1 / 24, 0.5, math.sqrt(7 / 2880))],
)
def test_adding_baseline_exact_and_empirical(form, exact, predict, sd):
    stream = streams.make_stream("adding", 4, 4096, 1, seed=0, dtype=torch.float64, form=form)
    assert stream.baseline == exact  # 1/6 = 0.1667 (the 0.1767 is a typo), Hochreiter 1/24
    losses = [constant_loss(stream.batch(k), [predict]) for k in range(1, 11)]
    empirical, n = sum(losses) / len(losses), 4096 * len(losses)
    assert abs(empirical - exact) < 4 * sd / math.sqrt(n)
    assert abs(empirical - 0.1767) > 0.005  # the sample tells the two numbers apart


def test_classification_baselines_exact():
    # copy: certain blanks, then a uniform guess over the n symbols: K ln(n) / seq_len
    stream = streams.make_stream("copy", 30, 2, 2, seed=0, copy_len=5, n_symbols=6)
    assert stream.baseline == pytest.approx(5 * math.log(6) / 30, abs=1e-15)
    logits = torch.full((30, 2, 8), -1e9, dtype=torch.float64)
    logits[:25, :, 0] = 0
    logits[25:, :, 1:7] = 0
    task = stream.val
    loss = task.loss_fn(tasks.Readout(torch.eye(8, dtype=torch.float64), torch.zeros(8)), "task")(logits)
    assert float(loss) == pytest.approx(stream.baseline, abs=1e-6)
    # delayed recall: symbol at step 0, blanks, the answer at the last step; uniform guess ln(n)
    stream = streams.make_stream("delayed_recall", 7, 5, 64, seed=0, n_symbols=4)
    val = stream.val
    assert val.x.shape == (7, 64, 5) and (val.x[1:, :, 0] == 1).all() and (val.x[0, :, 0] == 0).all()
    assert torch.equal(val.x[0].argmax(-1) - 1, val.target[-1]) and val.mask[-1].all()
    assert not val.mask[:-1].any() and set(val.target[-1].tolist()) == {0, 1, 2, 3}
    assert stream.baseline == math.log(4)
    assert constant_loss(val, [0.0] * 4) == pytest.approx(math.log(4), abs=1e-6)


def test_text_and_values_baselines_are_the_best_constant():
    text = "the cat sat on the mat"
    stream = streams.make_stream("text", None, 8, 1, seed=0, text=text)
    counts, n = Counter(text[1:]), len(text) - 1
    entropy = -sum(c / n * math.log(c / n) for c in counts.values())
    assert stream.baseline == pytest.approx(entropy, abs=1e-15)
    log_freq = [math.log(counts[ch] / n) for ch in stream.val.alphabet]
    assert constant_loss(stream.val, log_freq) == pytest.approx(entropy, abs=1e-6)
    values = [0.5, 2.0, -1.0, 3.5, 0.0, 1.25]
    stream = streams.make_stream("sequence", None, 8, 1, seed=0, values=values)
    targets = torch.tensor(values[1:], dtype=torch.float64)
    assert stream.baseline == pytest.approx(float(targets.var(unbiased=False)), abs=1e-15)
    assert constant_loss(stream.val, [float(targets.mean())]) == pytest.approx(stream.baseline, abs=1e-6)
    # sine: the mean of sin^2 over whole periods is 1/2 whatever the phase
    stream = streams.make_stream("sine", 100, 8, 64, seed=0, period=20.0)
    assert stream.baseline == 0.5 and constant_loss(stream.val, [0.0]) == pytest.approx(0.5, abs=1e-6)


def test_text_windows_are_slices_of_the_text():
    text = "abcdefghijklmnopqrstuvwxyz" * 2
    stream = streams.make_stream("text", 10, 6, 1, seed=3, text=text)
    batch, ids = stream.batch(1), stream.val.x[:, 0].argmax(-1)
    assert batch.x.shape == (10, 6, 26) and stream.val.x.shape == (51, 1, 26)
    for b in range(6):
        start = int(batch.x[0, b].argmax())  # any start: the window must be contiguous
        window = batch.x[:, b].argmax(-1)
        assert torch.equal(window, (start + torch.arange(10)) % 26)
        assert torch.equal(batch.target[:, b], (window + 1) % 26)
    assert ids.shape == (51,) and torch.equal(stream.batch(1).x, batch.x)
    assert not torch.equal(stream.batch(2).x, batch.x)
    whole = streams.make_stream("text", None, 6, 1, seed=3, text=text)
    assert whole.batch(1) is whole.val  # the whole sequence, batch 1


def test_deterministic_bit_for_bit_and_chunking_free():
    a = models.Trainer("lstm", seq_len=20, hidden_size=8, batch_size=8, val_size=16, seed=5, val_every=3)
    b = models.Trainer("lstm", seq_len=20, hidden_size=8, batch_size=8, val_size=16, seed=5, val_every=3)
    a.run(15)
    b.run(6)
    b.run(9)
    fields = ("loss", "val_loss", "grad_norm", "clipped")
    assert [[getattr(r, f) for f in fields] for r in a.history] == [
        [getattr(r, f) for f in fields] for r in b.history
    ]
    c = models.Trainer("lstm", seq_len=20, hidden_size=8, batch_size=8, val_size=16, seed=6)
    assert [r.loss for r in c.run(15)] != [r.loss for r in a.history]


def test_initial_weights_are_builds():
    kw = dict(init="orthogonal", spectral_radius=0.9, forget_bias=2.0, seed=4)
    tr = models.Trainer("lstm", seq_len=10, hidden_size=6, num_layers=2, bidirectional=True, **kw)
    net = models.build("lstm", tr.stream.input_size, 6, 2, True, **kw)
    assert set(net.weights) == set(tr.module.state_dict())
    for name, w in tr.module.state_dict().items():
        assert torch.equal(w, net.weights[name]), name
    start = tasks.make_readout(12, 1, seed=4)
    assert torch.equal(tr.readout.weight.detach(), start.weight)
    assert torch.equal(tr.readout.bias.detach(), start.bias)


def test_checkpoints_reload_exactly():
    tr = small("gru", num_layers=2, dtype="float32")
    tr.run(9)
    assert [(cp.step, cp.kind) for cp in tr.checkpoints] == [
        (0, "log"),
        (1, "log"),
        (2, "log"),
        (4, "log"),
        (8, "log"),
        (9, "last"),
    ]
    x = tr.stream.val.x
    for step in (0, 4, 9):
        module = copy.deepcopy(tr.module)
        module.load_state_dict(next(cp for cp in tr.checkpoints if cp.step == step).weights)
        mine, ref = tr.net_at(step).trace(x), models.from_torch(module).trace(x)
        assert torch.equal(mine.output, ref.output) and torch.equal(mine.grad_h, ref.grad_h)
    assert torch.equal(tr.net_at(9).trace(x).output, tr.net.trace(x).output)  # the last = current
    fresh = small("gru", num_layers=2, dtype="float32").module
    assert torch.equal(tr.net_at(0).weights["weight_hh_l1"], fresh.weight_hh_l1.detach())
    assert tr.probe(4).step == 4 and tr.probe(9).grad_h_norm.equal(tr.probe().grad_h_norm)
    assert tr.checkpoint().kind == "demand" and tr.checkpoints[-1].step == 9
    tr.run(2)
    assert [cp.step for cp in tr.checkpoints][-2:] == [9, 11]  # the on-demand one stays, "last" moves
    with pytest.raises(ValueError, match="step: no checkpoint at 3; checkpoints at steps 0, 1, 2, 4"):
        tr.net_at(3)


def test_checkpoints_stay_bounded():
    tr = small("rnn_tanh", seq_len=3, hidden_size=2, batch_size=1, val_size=1, probe_every=1000)
    tr.run(64)  # log-spaced: 0, 1, 2, 4, ..., 64
    for _ in range(30):
        tr.run(1)
        tr.checkpoint()
    steps = [cp.step for cp in tr.checkpoints]
    assert len(steps) == models.limits.CHECKPOINTS_MAX and steps == sorted(steps)
    assert steps[0] == 0 and steps[-30:] == list(range(65, 95))  # every on-demand one kept
    assert [cp.kind for cp in tr.checkpoints].count("log") == 2  # the log-spaced ones were thinned


def test_probe_against_independent_references():
    tr = small("lstm", seq_len=9, hidden_size=4, task="adding")
    tr.run(3)
    probe = tr.probe()
    net, x = tr.net, tr.stream.val.x[:, :1]
    target = tr.stream.val.target[-1, 0, 0]
    weight, bias = tr.readout.weight.detach(), tr.readout.bias.detach()

    def loss(out):
        return ((out[-1, 0] @ weight.t() + bias - target) ** 2).sum()

    _, h, _, grad_h, grad_c, ref_loss = unroll(net, x, loss)
    assert probe.loss == pytest.approx(float(ref_loss), abs=1e-12)
    torch.testing.assert_close(probe.grad_h_norm, grad_h[:, :, 0].norm(dim=-1), atol=1e-12, rtol=0)
    torch.testing.assert_close(probe.grad_c_norm, grad_c[:, :, 0].norm(dim=-1), atol=1e-12, rtol=0)
    h_prev = torch.cat([torch.zeros(1, 4, dtype=torch.float64), h[0, :-1, 0]])
    w = net.weights
    pre = x[:, 0] @ w["weight_ih_l0"].t() + w["bias_ih_l0"] + h_prev @ w["weight_hh_l0"].t() + w["bias_hh_l0"]
    i, f, g, o = pre.chunk(4, -1)
    for name, gate in {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}.items():
        torch.testing.assert_close(probe.gate_mean[name], gate.mean()[None], atol=1e-12, rtol=0)
        if name != "g":
            assert float(probe.saturated_high[name][0]) == float((gate > 0.9).double().mean())
            assert float(probe.saturated_low[name][0]) == float((gate < 0.1).double().mean())
    assert set(probe.saturated_low) == {"i", "f", "o"}
    for k, name in enumerate(("W_hi", "W_hf", "W_hg", "W_ho")):
        block = tr.module.weight_hh_l0.detach()[4 * k : 4 * k + 4]
        expected = torch.linalg.eigvals(block).abs().max()
        assert float(probe.spectral_radius[name][0]) == pytest.approx(float(expected), abs=1e-12)
    assert probe.val_loss == tr.evaluate() and probe.top(probe.gate_mean)["f"] == float(probe.gate_mean["f"])


def test_probes_of_a_deep_bidirectional_gru():
    tr = models.Trainer("gru", seq_len=15, hidden_size=6, num_layers=2, bidirectional=True, probe_every=4)
    tr.run(8)
    assert [p.step for p in tr.probes] == [0, 4, 8]
    probe = tr.probes[-1]
    assert probe.grad_h_norm.shape == (4, 15) and probe.grad_c_norm is None
    assert set(probe.spectral_radius) == {"W_hr", "W_hz", "W_hn"} and set(probe.saturated_high) == {"r", "z"}
    assert all(v.shape == (4,) for v in probe.gate_mean.values())
    assert probe.top(probe.gate_mean)["z"] == pytest.approx(float(probe.gate_mean["z"][2:].mean()))
    rnn = models.Trainer("rnn_tanh", seq_len=15, hidden_size=6)
    assert set(rnn.probes[0].spectral_radius) == {"W_hh"} and rnn.probes[0].gate_mean == {}


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(cell="lstmx"), ["cell", "'lstm'"]),
        (dict(lr=0), ["lr", "[1e-07, 10]"]),
        (dict(lr=float("nan")), ["lr"]),
        (dict(optimizer="rmsprop"), ["optimizer", "'adam', 'sgd'"]),
        (dict(task="parity"), ["task", "'delayed_recall'"]),
        (dict(clip=0.0), ["clip", "[0.0001, 10000]"]),
        (dict(momentum=1.5), ["momentum", "[0, 0.999]"]),
        (dict(batch_size=5000), ["batch_size", "[1, 4096]"]),
        (dict(seq_len=1000, hidden_size=1024, batch_size=64), ["batch_size", "allowed here: [1, 8]"]),
        (dict(seq_len=1000, hidden_size=64), ["val_size", "allowed here: [1, 131]"]),
        (dict(hidden_size=4096), ["hidden_size", "parameters"]),
        (dict(n_symbols=3), ["adding: unknown option 'n_symbols'", "form"]),
        (dict(form="x"), ["form", "'hochreiter'"]),
        (dict(task="text"), ["text: the text task needs it"]),
        (dict(task="text", text="hello", seq_len=9), ["seq_len", "[1, 4]"]),
        (dict(task="copy", seq_len=10), ["seq_len", "[21, 100000]"]),
        (dict(task="delayed_recall", n_symbols=1), ["n_symbols", "[2, 26]"]),
        (dict(cell="gru", forget_bias=1.0), ["forget_bias", "LSTM"]),
        (dict(probe_every=0), ["probe_every"]),
        (dict(seed=-1), ["seed"]),
    ],
)
def test_bad_options_name_the_field(kwargs, words):
    kwargs = {"cell": "lstm", "hidden_size": 4, **kwargs}
    with pytest.raises(ValueError) as err:
        models.Trainer(**kwargs)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_bad_calls_leave_the_trainer_working():
    tr = small("gru")
    for call, match in [
        (lambda: tr.run(0), r"steps: 0 is outside the allowed range \[1, 100000\]"),
        (lambda: tr.run(2.5), "steps: expected an integer"),
        (lambda: tr.run(5, max_seconds=-1), "max_seconds"),
        (lambda: tr.set_lr(-1e-3), "lr"),
        (lambda: tr.set_clip(float("inf")), "clip"),
        (lambda: tr.net_at(7), "step: no checkpoint at 7"),
        (lambda: tr.batch(0), "step"),
    ]:
        with pytest.raises(ValueError, match=match):
            call()
    assert len(tr.run(3)) == 3 and tr.lr == 1e-2 and tr.clip == 1.0
    tr.step = models.limits.TRAIN_STEPS_MAX - 2  # near the end of a trainer's life
    with pytest.raises(ValueError, match=r"steps: 5 more would pass .* allowed here: \[1, 2\]"):
        tr.run(5)


def test_exploding_run_is_flagged_and_the_trainer_keeps_answering():
    """A ReLU RNN with spectral radius 3 and no clip overflows float32 in the first forward pass."""
    tr = models.Trainer("rnn_relu", seq_len=100, hidden_size=8, batch_size=8, spectral_radius=3.0, clip=None)
    before = trainer_weights(tr)
    records = tr.run(50)
    assert len(records) == 1 and records[0].nonfinite and tr.diverged  # stopped at the bad step
    assert not math.isfinite(records[0].loss) and not math.isfinite(records[0].grad_norm)
    assert records[0].val_loss is not None and not records[0].clipped
    for name, w in trainer_weights(tr).items():  # the step was not taken
        assert torch.equal(w, before[name]), name
    assert tr.probes[0].nonfinite and tr.probe().nonfinite
    probe_task = streams.first_element(tr.stream.val)
    trace = tr.net.trace(probe_task.x, loss=probe_task.loss_fn(tr.readout_at(1), "task"))
    assert not trace.finite and trace.nonfinite["loss"]  # NaN and inf are data, never an error
    tr.set_lr(1e-4)
    assert tr.run(1)[0].step == 2 and tr.checkpoints[-1].step == 2
    calm = models.Trainer("rnn_relu", seq_len=100, hidden_size=8, batch_size=8, spectral_radius=0.5)
    assert not calm.run(2)[-1].nonfinite and not calm.diverged


def test_lstm_learns_delayed_recall():
    """4 symbols, answer 4 steps later: chance is ln 4 = 1.39. A net that ignores step 0 cannot pass."""
    tr = models.Trainer(
        "lstm", task="delayed_recall", seq_len=5, n_symbols=4, hidden_size=16, batch_size=32, lr=1e-2
    )
    assert tr.baseline == math.log(4) and tr.probes[0].val_loss > 1.2
    records = tr.run(150, stop_below=0.05)
    assert records[-1].val_loss < 0.05 and len(records) < 150


@pytest.mark.parametrize(
    ("task", "options"),
    [
        ("adding", dict(form="hochreiter")),
        ("copy", dict(copy_len=3, n_symbols=4)),
        ("delayed_recall", dict(n_symbols=3)),
        ("text", dict(text="to be or not to be", seq_len=6)),
        ("sequence", dict(values=[0.0, 1.0, 0.5, -0.5, 2.0], seq_len=None)),
        ("sine", dict(period=8.0, noise=0.1)),
    ],
)
def test_every_task_trains_and_probes(task, options):
    options = {"seq_len": 12, **options}
    tr = models.Trainer("gru", task=task, hidden_size=4, batch_size=4, val_size=8, probe_every=2, **options)
    records = tr.run(4)
    assert [r.step for r in records] == [1, 2, 3, 4] and all(math.isfinite(r.loss) for r in records)
    assert [p.step for p in tr.probes] == [0, 2, 4] and math.isfinite(tr.probes[-1].loss)
    assert tr.probes[-1].grad_h_norm.shape == (1, tr.stream.val.x.shape[0])
    assert tr.baseline > 0 and tr.stream.batch(1).x.shape[:2] == (tr.seq_len, tr.stream.batch(1).x.shape[1])
