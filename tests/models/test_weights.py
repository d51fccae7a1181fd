"""Your trained model from a file: the cell, sizes, layers and direction read from torch's names and
shapes; the trace of the net read back is the trace of ``from_torch`` on the module itself; a wrong or
malicious file is refused with a message naming what is wrong, and nothing in it is executed."""

from __future__ import annotations

import io
import os
import pickle

import pytest
import torch
from safetensors.torch import save as safetensors_save

import models
from models.weights import from_state, read_state


def saved(state: dict) -> bytes:
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()


MODULES = {
    "lstm": lambda: torch.nn.LSTM(3, 5),
    "gru, 2 layers, bidirectional": lambda: torch.nn.GRU(2, 4, num_layers=2, bidirectional=True),
    "rnn relu, no bias": lambda: torch.nn.RNN(4, 6, nonlinearity="relu", bias=False),
    "lstm, 3 layers": lambda: torch.nn.LSTM(1, 3, num_layers=3),
}


@pytest.mark.parametrize("fmt", ["torch", "safetensors"])
@pytest.mark.parametrize("name", MODULES)
def test_the_file_gives_back_the_module(name, fmt):
    torch.manual_seed(0)
    module = MODULES[name]()
    state = module.state_dict()
    data = saved(state) if fmt == "torch" else safetensors_save(dict(state))
    nonlinearity = getattr(module, "nonlinearity", "tanh")
    found = from_state(read_state(data), nonlinearity)
    net = found.net
    expected = models.from_torch(module)
    assert (net.cell, net.input_size, net.hidden_size, net.num_layers, net.bidirectional) == (
        expected.cell, expected.input_size, expected.hidden_size, expected.num_layers, expected.bidirectional,
    )  # fmt: skip
    x = torch.randn(7, 1, module.input_size)
    mine, theirs = net.trace(x), expected.trace(x)
    torch.testing.assert_close(mine.h, theirs.h, rtol=0, atol=0)
    torch.testing.assert_close(mine.grad_h, theirs.grad_h, rtol=0, atol=0)
    out, _ = module(x)
    torch.testing.assert_close(mine.output, out.detach(), rtol=1e-5, atol=1e-6)
    assert found.readout is None and found.ignored == []


def test_a_model_with_a_prefix_a_readout_and_other_tensors():
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(10, 3)
            self.lstm = torch.nn.LSTM(3, 8, bidirectional=True)
            self.fc = torch.nn.Linear(16, 2)

    model = Model()
    found = from_state(read_state(saved({"epoch": 3, "model": model.state_dict(), "optimizer": {}})))
    assert found.prefix == "model.lstm." and found.net.cell == "lstm" and found.net.bidirectional
    assert found.readout_names == ("model.fc.weight", "model.fc.bias")
    torch.testing.assert_close(found.readout.weight, model.fc.weight.detach())
    assert found.ignored == ["model.embed.weight"]


def test_half_precision_files_are_read_as_float32():
    module = torch.nn.GRU(2, 3).to(torch.float16)
    found = from_state(read_state(safetensors_save(dict(module.state_dict()))))
    assert found.dtype == "float16" and found.net.dtype == torch.float32
    torch.testing.assert_close(found.net.weights["weight_hh_l0"], module.weight_hh_l0.float())


class Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/gateflow-pwned",))


def z(*shape, dtype=torch.float32):
    return torch.zeros(*shape, dtype=dtype)


LSTM_L0 = {"weight_ih_l0": z(12, 2), "weight_hh_l0": z(12, 3)}  # an LSTM's first layer, H = 3


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "empty"),
        (b"hello, I am a text file", "not a safetensors file or a torch.save file"),
        (saved({"fc.weight": z(2, 3)}), "no tensors named as torch.nn.RNN / LSTM / GRU name them"),
        (safetensors_save({"fc.weight": z(2, 3)}), "no recurrent layer found"),
        (saved(torch.nn.LSTM(2, 3, proj_size=2).state_dict()), "proj_size"),
        (saved({"weight_ih_l0": z(12, 2), "weight_hh_l0": z(12, 5)}), "expected (gates*H, H)"),
        (saved({"weight_ih_l0": z(10, 2), "weight_hh_l0": z(10, 5)}), "2 x H = 5"),
        (saved(LSTM_L0 | {"weight_ih_l0": z(12, 2, dtype=torch.int64)}), "int64"),
        (saved(LSTM_L0 | {"weight_ih_l1": z(12, 3)}), "weight_hh_l1 is missing"),
        (saved(LSTM_L0 | {"bias_ih_l0": z(11)}), "bias_ih_l0 has shape (11,)"),
        (saved({f"{m}.{k}": v for m in "ab" for k, v in LSTM_L0.items()}), "several recurrent"),
        (pickle.dumps({"weight_ih_l0": Boom()}), "Python objects"),
        (saved({"weight_ih_l0": Boom()}), "Python objects"),
        (saved(torch.nn.LSTM(2, 3).state_dict())[:200], "cannot read"),
        (b"\x80", "cannot read"),  # a pickle's first byte alone: torch's unpickler raised IndexError
        (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}", "safetensors"),
    ],
)
def test_a_wrong_or_malicious_file_is_refused_and_never_executed(data, words):
    if os.path.exists("/tmp/gateflow-pwned"):
        os.remove("/tmp/gateflow-pwned")
    with pytest.raises(ValueError, match=r"^weights: ") as err:
        from_state(read_state(data))
    assert words in str(err.value)
    assert not os.path.exists("/tmp/gateflow-pwned")


def test_sizes_past_the_servers_limits_name_the_field():
    data = saved(torch.nn.GRU(2, 9, num_layers=2).state_dict())
    with pytest.raises(ValueError, match=r"^hidden_size: the file's H = 9 is outside .* 1 \.\. 8"):
        from_state(read_state(data), max_hidden=8)
    with pytest.raises(ValueError, match=r"^num_layers: .* 1 \.\. 1"):
        from_state(read_state(data), max_layers=1)


def test_non_finite_weights_are_data():
    state = torch.nn.RNN(2, 3).state_dict()
    state["weight_hh_l0"][0, 0] = float("nan")
    net = from_state(read_state(saved(state))).net
    tr = net.trace(torch.ones(4, 1, 2))
    assert torch.isnan(tr.h[0, 1:, 0, 0]).all() and tr.nonfinite
