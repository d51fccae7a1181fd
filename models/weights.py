"""A trained torch.nn.RNN / LSTM / GRU from a file: its cell, sizes, layers and direction read from the
tensor names and shapes alone.

    state = read_state(data)              # bytes: a safetensors file, or a torch.save'd state dict
    found = from_state(state)             # found.net (a RecurrentNet), found.readout, found.ignored

A torch.save file is read with ``torch.load(weights_only=True)``: tensors, numbers, strings and
containers only, so a file that would run code when unpickled is refused, never executed. The names
are torch's (``weight_ih_l0``, ``bias_hh_l1_reverse``), under any one prefix (``rnn.``, ``encoder.lstm.``);
a linear layer beside the recurrent one (``fc.weight``, ``fc.bias``) is offered as the readout.
Every refusal is a ValueError that starts with "weights:" and says what is wrong.
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import limits
from .cells import REGISTRY
from .net import RecurrentNet, param_suffix, zero_biases_where_missing
from .tasks import Readout

# rows of weight_hh / hidden_size -> the cells with torch.nn modules of that many gates (RNN: tanh, relu)
CELLS_BY_GATES: dict[int, list[str]] = {}
for _spec in REGISTRY.values():
    if _spec.torch_module is not None:
        CELLS_BY_GATES.setdefault(_spec.n_gates, []).append(_spec.name)
_NAME = re.compile(
    r"^(?P<prefix>.*?)(?P<param>weight_ih|weight_hh|bias_ih|bias_hh)_l(?P<layer>\d+)(?P<rev>_reverse)?$"
)
_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
SAFETENSORS_MAX_HEADER = 100 * 2**20


@dataclass
class Found:
    net: RecurrentNet
    readout: Readout | None  # a linear layer of the file whose input is the net's output, if any
    prefix: str  # the recurrent module's name prefix in the file ("" for a bare state dict)
    readout_names: tuple[str, str] | None = None
    ignored: list[str] = field(default_factory=list)  # tensors of the file that are neither
    dtype: str = "float32"  # the file's dtype (the net is float32, as every run)


def _is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    n = int.from_bytes(data[:8], "little")
    return 2 <= n <= min(len(data) - 8, SAFETENSORS_MAX_HEADER) and data[8:9] == b"{"


def read_state(data: bytes) -> dict[str, Tensor]:
    """The tensors of a safetensors file or of a torch.save'd state dict, nested dicts flattened with
    dots ({"model": state_dict, "optimizer": ...} gives "model.weight_ih_l0", ...)."""
    if not data:
        raise ValueError("weights: the file is empty")
    if _is_safetensors(data):
        from safetensors import SafetensorError
        from safetensors.torch import load

        try:
            return dict(load(data))
        except (SafetensorError, ValueError, RuntimeError) as err:
            raise ValueError(f"weights: not a valid safetensors file ({err})") from err
    if not (data[:4] == b"PK\x03\x04" or data[:1] == b"\x80"):
        raise ValueError(
            "weights: not a safetensors file or a torch.save file; save the trained module with "
            "safetensors.torch.save_file(model.state_dict(), path) or torch.save(model.state_dict(), path)"
        )
    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            "weights: the file holds Python objects, not only tensors (a whole module saved with "
            "torch.save(model)?); it was not loaded. Save model.state_dict() instead"
        ) from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, IndexError, OSError) as err:
        raise ValueError(
            f"weights: cannot read the torch.save file ({str(err).splitlines()[0][:200]})"
        ) from err
    return _tensors(obj)


def _tensors(obj, prefix: str = "", depth: int = 0) -> dict[str, Tensor]:
    """Every tensor of a (nested) dict by its dotted name: {"lstm": sd, "head": sd} gives "lstm.weight_ih_l0"
    and "head.weight"; non-string keys (an optimizer's parameter ids) are passed over."""
    out: dict[str, Tensor] = {}
    if isinstance(obj, dict) and depth < 6:
        for key, value in obj.items():
            if not isinstance(key, str):
                continue
            if isinstance(value, Tensor):
                out[prefix + key] = value
            elif isinstance(value, dict):
                out |= _tensors(value, f"{prefix}{key}.", depth + 1)
    if depth == 0 and not any(_NAME.match(k) for k in out):
        raise ValueError(
            "weights: the file holds no tensors named as torch.nn.RNN / LSTM / GRU name them "
            "(weight_ih_l0, weight_hh_l0, ...)"
        )
    return out


def from_state(
    state: dict[str, Tensor],
    nonlinearity: str = "tanh",
    max_hidden: int | None = None,
    max_layers: int | None = None,
) -> Found:
    """The net a state dict describes. ``nonlinearity``: a plain RNN's, which its weights cannot tell
    ("tanh", torch's default, or "relu")."""
    limits.check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
    groups: dict[str, dict] = {}
    for name in state:
        m = _NAME.match(name)
        if m:
            groups.setdefault(m["prefix"], {})[(m["param"], int(m["layer"]), bool(m["rev"]))] = name
    if not groups:
        shown = ", ".join(sorted(state)[:6])
        raise ValueError(
            "weights: no recurrent layer found; expected torch's names weight_ih_l0, weight_hh_l0, ... "
            f"(found {shown})"
        )
    if len(groups) > 1:
        names = ", ".join(repr(p.rstrip(".") or "(top level)") for p in sorted(groups))
        raise ValueError(f"weights: the file holds several recurrent modules ({names}); upload one at a time")
    ((prefix, params),) = groups.items()
    if any(k.startswith(prefix + "weight_hr_l") for k in state):
        raise ValueError(
            "weights: an LSTM with proj_size > 0 (weight_hr_l0) is not supported; allowed: proj_size = 0"
        )
    for name in params.values():
        if state[name].dtype not in _FLOATS:
            raise ValueError(
                f"weights: {name} is {state[name].dtype}; allowed: float16, bfloat16, float32, float64"
            )
    if ("weight_hh", 0, False) not in params or ("weight_ih", 0, False) not in params:
        raise ValueError(f"weights: {prefix}weight_ih_l0 and {prefix}weight_hh_l0 are both needed")
    w_hh0, w_ih0 = state[params["weight_hh", 0, False]], state[params["weight_ih", 0, False]]
    if w_hh0.dim() != 2 or w_hh0.shape[0] % max(w_hh0.shape[1], 1) or w_hh0.shape[1] == 0:
        raise ValueError(
            f"weights: {prefix}weight_hh_l0 has shape {tuple(w_hh0.shape)}; expected (gates*H, H)"
        )
    H = w_hh0.shape[1]
    gates = w_hh0.shape[0] // H
    if gates not in CELLS_BY_GATES:
        expected = ", ".join(
            f"{n} ({REGISTRY[c[0]].torch_module})" for n, c in sorted(CELLS_BY_GATES.items())
        )
        raise ValueError(
            f"weights: {prefix}weight_hh_l0 has {w_hh0.shape[0]} rows = {gates} x H = {H}; "
            f"expected gates: {expected}"
        )
    candidates = CELLS_BY_GATES[gates]  # the weights cannot tell a tanh RNN from a ReLU one: the caller says
    cell = next(
        (c for c in candidates if REGISTRY[c].torch_kwargs.get("nonlinearity") == nonlinearity), candidates[0]
    )
    layers = 1 + max(layer for _, layer, _ in params)
    dirs = 2 if any(rev for _, _, rev in params) else 1
    if max_hidden is not None and max_hidden < H:
        raise ValueError(f"hidden_size: the file's H = {H} is outside the allowed range 1 .. {max_hidden}")
    if max_layers is not None and layers > max_layers:
        raise ValueError(
            f"num_layers: the file's {layers} layers are outside the allowed range 1 .. {max_layers}"
        )
    if w_ih0.dim() != 2:
        raise ValueError(
            f"weights: {prefix}weight_ih_l0 has shape {tuple(w_ih0.shape)}; expected (gates*H, inputs)"
        )
    D = w_ih0.shape[1]
    weights = {
        param + param_suffix(layer, rev): state[name].detach().to(torch.float32).contiguous()
        for (param, layer, rev), name in params.items()
    }
    try:  # RecurrentNet checks that every tensor is there, in its shape
        net = RecurrentNet(cell, D, H, layers, dirs == 2, zero_biases_where_missing(weights), {})
    except ValueError as err:
        where = f"; the file's names start with {prefix!r}" if prefix else ""
        raise ValueError(
            f"{err} (a {cell} with {D} inputs and H = {H}, {layers} layers, {dirs} directions{where})"
        ) from err
    used = set(params.values())
    rest = {k: v for k, v in state.items() if k not in used}
    readout, names = _readout(rest, dirs * H)
    ignored = sorted(k for k in rest if names is None or k not in names)
    return Found(net, readout, prefix, names, ignored, str(w_hh0.dtype).removeprefix("torch."))


def _readout(rest: dict[str, Tensor], width: int) -> tuple[Readout | None, tuple[str, str] | None]:
    """One linear layer (name.weight (O, width), name.bias (O,)) that reads the net's output."""
    found = []
    for name, w in rest.items():
        if name.endswith("weight") and w.dim() == 2 and w.shape[1] == width and w.dtype in _FLOATS:
            bias_name = name[: -len("weight")] + "bias"
            b = rest.get(bias_name)
            if b is not None and (b.dim() != 1 or b.shape[0] != w.shape[0] or b.dtype not in _FLOATS):
                continue
            found.append((name, bias_name, w, b))
    if len(found) != 1:
        return None, None
    name, bias_name, w, b = found[0]
    bias = b if b is not None else torch.zeros(w.shape[0])
    return Readout(w.detach().to(torch.float32), bias.detach().to(torch.float32)), (name, bias_name)


def to_bytes(found: Found) -> bytes:
    """The net as a plain state dict saved with torch.save, what an exported script loads with
    ``torch.load(path, weights_only=True)``: torch.nn's names (``weight_ih_l0``, ``bias_hh_l0_reverse``)
    at float32, as every run uses them, and ``readout.weight`` / ``readout.bias`` when the file had a
    linear layer on the net's output."""
    state = {name: w.detach().cpu().clone() for name, w in found.net.weights.items()}
    if found.readout is not None:
        state["readout.weight"] = found.readout.weight.detach().cpu().clone()
        state["readout.bias"] = found.readout.bias.detach().cpu().clone()
    out = io.BytesIO()
    torch.save(state, out)
    return out.getvalue()
