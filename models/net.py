"""A multi-layer, optionally bidirectional recurrent net that records everything: ``RecurrentNet.trace``.

How a trace is computed, per layer and direction (see bench/RESULTS.md for what it costs):
  1. the layer runs forward without an autograd graph: torch's fused LSTM, or for the RNN and GRU
     (whose fused CPU kernels are slower) one batched input matmul and a NumPy loop;
  2. every gate for every t is recomputed from (x_t, h_{t-1}) in one batched matmul, c_t rebuilt;
  3. the loss puts an explicit gradient on the top layer's output (autograd on the output alone);
  4. a hand-written reverse sweep per layer, top to bottom, gives dL/dh_t (and dL/dc_t), checked
     against autograd in tests/; the Jacobians dh_T/dh_t come from the same sweep seeded with I.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from . import cancel, limits
from .cells import REGISTRY, CellSpec
from .cells.base import Forward, LayerWeights, param_suffix
from .init import init_layer, rescale_spectral_radius, set_gate_bias
from .spectral import sequence_spectral_norms, spectral_norm
from .trace import Trace
from .unrolled import Unrolled

LossFn = Callable[[Tensor], Tensor]


def resolve_device(device: str | torch.device) -> torch.device:
    if isinstance(device, torch.device):
        return device
    limits.check_choice("device", device, limits.DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device: 'cuda' was asked for but no CUDA GPU is available; allowed here: 'cpu', 'auto'"
        )
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype: {dtype} is not one of 'float32', 'float64'")
        return dtype
    return getattr(torch, limits.check_choice("dtype", dtype, limits.DTYPES))


@dataclass
class RecurrentNet:
    """Weights of a torch.nn.RNN / LSTM / GRU, by torch's parameter names, plus gate clamps and the
    cell's solver options (a continuous-time cell's timespan; none given: the cell's defaults)."""

    cell: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    weights: dict[str, Tensor] = field(default_factory=dict)  # torch state-dict names
    clamp: dict[str, float] = field(default_factory=dict)
    solver: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        limits.check_choice("cell", self.cell, limits.CELLS)
        for name in ("input_size", "hidden_size", "num_layers"):
            limits.check_range(name, getattr(self, name), integer=True)
        self.clamp = limits.check_clamp(self.cell, self.clamp)
        self.spec: CellSpec = REGISTRY[self.cell]
        self.solver = limits.check_solver(self.cell, self.solver)
        for name, shape in self._param_shapes().items():
            if name not in self.weights:
                raise ValueError(f"weights: {name} is missing")
            if tuple(self.weights[name].shape) != shape:
                raise ValueError(
                    f"weights: {name} has shape {tuple(self.weights[name].shape)}, expected {shape}"
                )

    # -- structure -----------------------------------------------------------------------------
    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def gate_names(self) -> tuple[str, ...]:
        return self.spec.gate_names

    @property
    def n_gates(self) -> int:
        return self.spec.n_gates

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    @property
    def device(self) -> torch.device:
        return next(iter(self.weights.values())).device

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.weights.values())).dtype

    def _param_shapes(self) -> dict[str, tuple[int, ...]]:
        G, H = self.n_gates, self.hidden_size
        shapes = {}
        for layer in range(self.num_layers):
            D = self.input_size if layer == 0 else self.output_size
            for d in range(self.num_directions):
                s = param_suffix(layer, d)
                shapes |= {
                    f"weight_ih{s}": (G * H, D),
                    f"weight_hh{s}": (G * H, H),
                    f"bias_ih{s}": (G * H,),
                    f"bias_hh{s}": (G * H,),
                }
        return shapes

    def layer_weights(self, layer: int, direction: int, clamped: bool = True) -> LayerWeights:
        s = param_suffix(layer, direction)
        w = LayerWeights(*(self.weights[f"{n}{s}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")))
        return self._apply_clamp(w) if clamped else w

    def _apply_clamp(self, w: LayerWeights) -> LayerWeights:
        """A clamped gate gets zero weights and the bias whose activation is the constant, so the
        fused forward computes it too and no gradient flows through it."""
        if not self.clamp:
            return w
        H = self.hidden_size
        w = LayerWeights(*(p.clone() for p in w))
        for gate, value in self.clamp.items():
            rows = slice(self.gate_names.index(gate) * H, (self.gate_names.index(gate) + 1) * H)
            bias = torch.tensor(self.spec.gate(gate).bias_for(value), dtype=torch.float64)
            w.weight_ih[rows] = 0
            w.weight_hh[rows] = 0
            w.bias_ih[rows] = bias.to(w.bias_ih.dtype)
            w.bias_hh[rows] = 0
        return w

    def with_clamp(self, clamp: dict[str, float] | None) -> RecurrentNet:
        return RecurrentNet(
            self.cell,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            self.weights,
            dict(clamp or {}),
            self.solver,
        )

    def to(
        self, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None
    ) -> RecurrentNet:
        dev = resolve_device(device) if device is not None else self.device
        dt = resolve_dtype(dtype) if dtype is not None else self.dtype
        weights = {k: v.to(device=dev, dtype=dt) for k, v in self.weights.items()}
        return RecurrentNet(
            self.cell,
            self.input_size,
            self.hidden_size,
            self.num_layers,
            self.bidirectional,
            weights,
            self.clamp,
            self.solver,
        )

    def state_dict(self) -> dict[str, Tensor]:
        return dict(self.weights)

    def to_torch(self) -> torch.nn.Module:
        """The equivalent torch.nn module (clamps are not part of it): torch.nn.RNN / LSTM / GRU, or for a
        cell with none of its own (the CfC) its step unrolled with autograd (models.unrolled.Unrolled)."""
        kwargs = dict(num_layers=self.num_layers, bidirectional=self.bidirectional) | self.spec.torch_kwargs
        if self.spec.torch_module is not None:
            module = getattr(torch.nn, self.spec.torch_module)(self.input_size, self.hidden_size, **kwargs)
        elif self.spec.torch_step is not None:
            module = Unrolled(self.cell, self.input_size, self.hidden_size, solver=self.solver, **kwargs)
        else:
            raise ValueError(f"cell: {self.cell!r} has no torch module that computes it")
        module = module.to(device=self.device, dtype=self.dtype)
        module.load_state_dict(self.weights)
        return module

    # -- the trace -----------------------------------------------------------------------------
    def _check_input(self, x) -> Tensor:
        x = torch.as_tensor(x).detach()
        if not x.is_floating_point():
            x = x.to(torch.float64)
        if x.dim() == 2:
            x = x.unsqueeze(1)
        if x.dim() != 3:
            raise ValueError(f"x: expected shape (T, D) or (T, B, D), got {tuple(x.shape)}")
        T, B, D = x.shape
        if self.input_size != D:
            raise ValueError(f"x: last dimension is {D} but the net's input_size is {self.input_size}")
        limits.check_range("seq_len", T, integer=True)
        limits.check_range("batch", B, integer=True)
        return x.to(device=self.device, dtype=self.dtype)

    def _initial_state(self, hx, B: int) -> tuple[Tensor, Tensor | None]:
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        zeros = torch.zeros(shape, device=self.device, dtype=self.dtype)
        if hx is None:
            return zeros, (zeros if self.spec.has_cell_state else None)
        if self.spec.has_cell_state:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"hx: an {self.spec.label} takes (h0, c0)")
            h0, c0 = hx
        else:
            h0, c0 = hx, None
        out = []
        for name, s in (("h0", h0), ("c0", c0)):
            if s is None:
                out.append(None)
                continue
            s = torch.as_tensor(s, device=self.device, dtype=self.dtype)
            if tuple(s.shape) != shape:
                raise ValueError(f"hx: {name} has shape {tuple(s.shape)}, expected {shape}")
            out.append(s)
        return out[0], out[1]

    def trace(
        self,
        x,
        loss: str | LossFn | None = None,
        hx=None,
        jacobian: bool | None = None,
        step_jacobian: bool | None = None,
    ) -> Trace:
        """Run over ``x`` (T, D) or (T, B, D) and record states, gates, gradients and Jacobian norms.

        loss: "last" (default: each direction's final output, summed), "sum" (every step), or a callable
        on the top layer's output sequence (T, B, dirs*H) returning a scalar.
        jacobian: compute ||dh_T/dh_t|| (and ||dc_T/dc_t||); None computes them when
        T*B*H*H <= limits.JACOBIAN_AUTO_ELEMENTS.
        step_jacobian: compute ||dh_t/dh_{t-1}|| too (one eigen-solve per step, as long as the rest
        together); None: when ``jacobian``. ``step_jacobian_norms`` gives them alone.
        """
        x = self._check_input(x)
        T, B, _ = x.shape
        H, L, dirs = self.hidden_size, self.num_layers, self.num_directions
        h0, c0 = self._initial_state(hx, B)
        if jacobian is None:
            jacobian = limits.jacobian_auto(T, B, H)
        if step_jacobian is None:
            step_jacobian = jacobian

        forwards, weights, output = self._forward_all(x, h0, c0)  # [layer][direction], (T, B, dirs*H)
        loss_value, grad_output = _explicit_gradient(output, loss, H, dirs)
        grads_h, grads_c, scales, (stored_x, x_scale) = self._reverse_all(forwards, weights, grad_output)

        flat = [fw for fws in forwards for fw in fws]  # torch's h_n order: layer-major, direction-minor
        flat_w = [w for ws in weights for w in ws]

        def stack(values):
            return torch.stack([_in_order(v, i % dirs) for i, v in enumerate(values)])

        h = stack([fw.h for fw in flat])
        c = stack([fw.c for fw in flat]) if self.spec.has_cell_state else None
        gates = {g: stack([fw.gates[g] for fw in flat]) for g in self.gate_names}
        h_n = torch.stack([fw.h[-1] for fw in flat])
        c_n = torch.stack([fw.c[-1] for fw in flat]) if c is not None else None
        unscaled = torch.zeros(T, B, dtype=torch.float64, device=x.device)
        log2 = stack([unscaled if s is None else s for s in scales])
        stored_h = stack(grads_h)  # at the sweeps' scales: the norms from these, then the true values
        stored_c = stack(grads_c) if c is not None else None
        grad_h_norm, grad_h = _norm(stored_h, log2), _descaled(stored_h, log2)
        grad_c_norm = _norm(stored_c, log2) if stored_c is not None else None
        grad_c = _descaled(stored_c, log2) if stored_c is not None else None
        x_scale = unscaled if x_scale is None else x_scale
        grad_x_norm, grad_x = _norm(stored_x, x_scale), _descaled(stored_x, x_scale)

        jac = jac_c = step_jac = None
        if jacobian:
            norms = []
            for fw, w in zip(flat, flat_w, strict=True):
                cancel.check()
                norms.append(self._jacobian_norms(fw, w))
            jac = stack([jh for jh, _ in norms])
            jac_c = stack([jc for _, jc in norms]) if c is not None else None
        if step_jacobian:
            step_jac = stack([self._step_norms(fw, w) for fw, w in zip(flat, flat_w, strict=True)])

        tr = Trace(
            cell=self.cell,
            num_layers=L,
            num_directions=dirs,
            x=x,
            output=output,
            h=h,
            c=c,
            gates=gates,
            h_n=h_n,
            c_n=c_n,
            loss=loss_value,
            grad_output=grad_output,
            grad_h=grad_h,
            grad_c=grad_c,
            grad_h_norm=grad_h_norm,
            grad_c_norm=grad_c_norm,
            grad_x=grad_x,
            grad_x_norm=grad_x_norm,
            jacobian_norm=jac,
            jacobian_norm_c=jac_c,
            step_jacobian_norm=step_jac,
        )
        tr.flag_nonfinite()
        return tr

    def _forward_all(self, x: Tensor, h0: Tensor, c0: Tensor | None, layers: int | None = None):
        """Every layer and direction forward (the lowest ``layers`` of them if given); a layer's input is
        the one below's [forward, reverse] h. Returns the Forward records, the layers' weights and the
        last layer's output."""
        forwards: list[list[Forward]] = []
        weights: list[list[LayerWeights]] = []
        layer_input = x
        for layer in range(self.num_layers if layers is None else layers):
            fws, ws = [], []
            for d in range(self.num_directions):
                cancel.check()
                w = self.layer_weights(layer, d)
                idx = layer * self.num_directions + d
                xs = layer_input.flip(0) if d else layer_input
                c = None if c0 is None else c0[idx]
                fws.append(self.spec.forward(xs, h0[idx], c, w, **self.solver))
                ws.append(w)
            forwards.append(fws)
            weights.append(ws)
            layer_input = torch.cat([_in_order(fw.h, d) for d, fw in enumerate(fws)], -1)
        return forwards, weights, layer_input

    def _reverse_all(self, forwards, weights, grad_output: Tensor):
        """The reverse sweeps, top layer first: a layer's explicit gradient is dL/dx of the layer above.
        Returns dL/dh_t and dL/dc_t per layer-direction, in processing order, stored at the powers of two
        in the third list ((T, B) float64 or None for 0; see cells.base.Rescale), and dL/dx_t of the
        input (T, B, D) in input order with its power of two."""
        H, dirs = self.hidden_size, self.num_directions
        n = self.num_layers * dirs
        grads_h: list[Tensor] = [None] * n  # type: ignore[list-item]
        grads_c: list[Tensor | None] = [None] * n
        scales: list[Tensor | None] = [None] * n
        explicit, explicit_scale = grad_output, None
        for layer in reversed(range(self.num_layers)):
            below = below_scale = None
            for d in range(dirs):
                cancel.check()
                fw, w = forwards[layer][d], weights[layer][d]
                e = _in_order(explicit[..., d * H : (d + 1) * H], d).unsqueeze(2)  # (T, B, 1, H)
                e_scale = None if explicit_scale is None else _in_order(explicit_scale, d)
                rev = self.spec.reverse(fw, w, e, None, None, store=True, e_scale=e_scale)
                i = layer * dirs + d
                grads_h[i] = rev.grad_h[:, :, 0]
                grads_c[i] = None if rev.grad_c is None else rev.grad_c[:, :, 0]
                scales[i] = rev.log2_scale
                dx = _in_order(rev.grad_x[:, :, 0], d)
                dx_scale = None if rev.log2_scale is None else _in_order(rev.log2_scale, d)
                below, below_scale = _add_scaled(below, below_scale, dx, dx_scale)
            explicit, explicit_scale = below, below_scale
        return grads_h, grads_c, scales, (explicit, explicit_scale)

    def step_jacobian_norms(self, x, hx=None) -> Tensor:
        """||dh_t/dh_{t-1}||_2 of every layer-direction, (L*dirs, T, B) float64 in input order, as
        ``trace(x, hx=hx, step_jacobian=True).step_jacobian_norm`` gives them, without the rest."""
        forwards, weights = self._forwards(x, hx)
        dirs = self.num_directions
        return torch.stack(
            [
                _in_order(
                    self._step_norms(forwards[i // dirs][i % dirs], weights[i // dirs][i % dirs]), i % dirs
                )
                for i in range(self.num_layers * dirs)
            ]
        )

    def step_jacobian_norm(self, x, layer: int, direction: int = 0, hx=None) -> Tensor:
        """||dh_t/dh_{t-1}||_2 of one layer-direction, (T, B) float64 in input order: one row of
        ``step_jacobian_norms`` at a fraction of its cost (an eigen-solve per step of that one)."""
        layer = limits.check_range("layer", layer, 0, self.num_layers - 1, integer=True)
        direction = limits.check_range("direction", direction, 0, self.num_directions - 1, integer=True)
        forwards, weights = self._forwards(x, hx, layers=layer + 1)
        return _in_order(self._step_norms(forwards[layer][direction], weights[layer][direction]), direction)

    def _forwards(self, x, hx, layers: int | None = None):
        x = self._check_input(x)
        forwards, weights, _ = self._forward_all(x, *self._initial_state(hx, x.shape[1]), layers=layers)
        return forwards, weights

    def _step_norms(self, fw: Forward, w: LayerWeights) -> Tensor:
        """||dh_t/dh_{t-1}||_2 for every t in processing order, float64 (one eigen-solve each)."""
        cancel.check()
        return spectral_norm(self.spec.step_jacobian(fw, w)).double()

    def _jacobian_norms(self, fw: Forward, w: LayerWeights) -> tuple[Tensor, Tensor | None]:
        """||dh_T/dh_t||_2 (and ||dc_T/dc_t||_2) for every t from one reverse sweep seeded with I,
        in processing order, float64."""
        _, B, H = fw.h.shape
        eye = torch.eye(H, dtype=fw.h.dtype, device=fw.h.device).expand(B, H, H)
        if not self.spec.has_cell_state:
            rev = self.spec.reverse(fw, w, None, eye, None, store=False)
            return _scaled(sequence_spectral_norms(rev.grad_h, backward=True), rev.log2_scale), None
        zero = torch.zeros_like(eye)  # one sweep, 2H cotangents: rows of dh_T and of dc_T
        rev = self.spec.reverse(
            fw, w, None, torch.cat([eye, zero], 1), torch.cat([zero, eye], 1), store=False
        )
        jac_h = _scaled(sequence_spectral_norms(rev.grad_h[:, :, :H], backward=True), rev.log2_scale)
        jac_c = _scaled(sequence_spectral_norms(rev.grad_c[:, :, H:], backward=True), rev.log2_scale)
        return jac_h, jac_c


def _scaled(values: Tensor, log2: Tensor | None) -> Tensor:
    """values * 2**log2 in float64 (a sweep's stored values times its scale, see cells.base.Rescale)."""
    values = values.to(torch.float64)
    if log2 is None:
        return values
    return torch.where(values == 0, values, values * torch.exp2(log2))  # 0 stays 0 at any scale


def _norm(values: Tensor, log2: Tensor) -> Tensor:
    """||v||_2 over units in float64, times the sweep's scale: down to 1e-300 in a float32 run."""
    return _scaled(torch.linalg.vector_norm(values, dim=-1, dtype=torch.float64), log2)


def _descaled(values: Tensor, log2: Tensor) -> Tensor:
    """The true values of a sweep's output, in its dtype (what is below the dtype's range is 0 there)."""
    if not bool((log2 != 0).any()):
        return values
    scaled = torch.where(values == 0, 0.0, values * torch.exp2(log2)[..., None])  # 0 stays 0 at any scale
    return scaled.to(values.dtype)


def _add_scaled(a: Tensor | None, a_scale: Tensor | None, b: Tensor, b_scale: Tensor | None):
    """a * 2**a_scale + b * 2**b_scale, at the larger scale (T, B), so neither term overflows."""
    if a is None:
        return b, b_scale
    if a_scale is None and b_scale is None:
        return a + b, None
    a_scale = torch.zeros_like(b_scale) if a_scale is None else a_scale
    b_scale = torch.zeros_like(a_scale) if b_scale is None else b_scale
    common = torch.maximum(a_scale, b_scale)
    total = a * torch.exp2(a_scale - common)[..., None] + b * torch.exp2(b_scale - common)[..., None]
    return total.to(b.dtype), common


def _in_order(values: Tensor, direction: int) -> Tensor:
    """Processing order <-> input position: a reverse direction's time axis (0) is flipped."""
    return values.flip(0) if direction else values


def _explicit_gradient(output: Tensor, loss, H: int, dirs: int) -> tuple[Tensor, Tensor]:
    """The loss and dL/d output, by autograd on the output alone."""
    out = output.detach().requires_grad_(True)
    with torch.enable_grad():
        if loss is None or loss == "last":  # each direction's final step: t = T-1 forward, t = 0 reverse
            value = out[-1, :, :H].sum() + (out[0, :, H:].sum() if dirs == 2 else 0)
        elif loss == "sum":
            value = out.sum()
        elif callable(loss):
            value = loss(out)
        else:
            raise ValueError(f"loss: {loss!r} is not one of 'last', 'sum' or a callable on the output")
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise ValueError("loss: the callable must return a scalar tensor")
        value = value.reshape(())
        (grad,) = torch.autograd.grad(value, out, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(out)
    return value.detach(), grad.detach()


def build(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    seed: int = 0,
    init: str = "torch",
    spectral_radius: float | None = None,
    forget_bias: float | None = None,
    update_bias: float | None = None,
    clamp: dict[str, float] | None = None,
    device: str = "cpu",
    dtype: str | torch.dtype = "float32",
    **options: float,
) -> RecurrentNet:
    """A fresh net, deterministic from ``seed`` (the same weights on every device and dtype).

    forget_bias, update_bias and ``options`` are the cell's knobs (its spec's ``knobs``): init options
    set the drawn weights, solver options (timespan, ode_unfolds) are kept as the net's ``solver``."""
    limits.check_choice("cell", cell, limits.CELLS)
    limits.check_choice("init", init, limits.INIT_SCHEMES)
    for name in ("input_size", "hidden_size", "num_layers", "seed"):
        limits.check_range(name, locals()[name], integer=True)
    if not isinstance(bidirectional, bool):
        raise ValueError(f"bidirectional: expected true or false, got {bidirectional!r}")
    if spectral_radius is not None:
        limits.check_range("spectral_radius", spectral_radius)
    spec = REGISTRY[cell]
    knobs = dict(forget_bias=forget_bias, update_bias=update_bias, **options)
    knobs = {name: value for name, value in knobs.items() if value is not None}
    for name, value in knobs.items():
        limits.check_choice("option", name, limits.KNOBS)
        if cell not in limits.KNOB_CELLS[name]:
            takes = ", ".join(REGISTRY[c].label for c in limits.KNOB_CELLS[name])
            raise ValueError(f"{name}: only {takes} takes it, not {cell!r}")
        limits.check_range(name, value, integer=limits.KNOBS[name].integer)
    solver = {name: value for name, value in knobs.items() if limits.KNOBS[name].solver}
    dev, dt = resolve_device(device), resolve_dtype(dtype)
    gen = torch.Generator().manual_seed(int(seed))
    dirs = 2 if bidirectional else 1
    weights: dict[str, Tensor] = {}
    for layer in range(num_layers):
        D = input_size if layer == 0 else dirs * hidden_size
        for d in range(dirs):
            if spec.init is not None:  # its own parameters, not weight matrices (the LTC's)
                w = spec.init(D, hidden_size, gen)
            else:
                w = init_layer(init, spec.n_gates, D, hidden_size, gen)
            if spectral_radius is not None and spec.init is None:
                w = rescale_spectral_radius(w, spec.n_gates, spectral_radius)
            for knob in spec.knobs:
                if knob.gate is not None and knob.name in knobs:
                    w = set_gate_bias(w, spec.gate_names.index(knob.gate), spec.n_gates, knobs[knob.name])
            s = param_suffix(layer, d)
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), w, strict=True):
                weights[name + s] = value.to(device=dev, dtype=dt)
    clamp = clamp or {}
    return RecurrentNet(cell, input_size, hidden_size, num_layers, bidirectional, weights, clamp, solver)


def zero_biases_where_missing(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """A state dict with zeros where a module made with bias=False has no bias tensors."""
    out = dict(state)
    for key, w in state.items():
        if key.startswith("weight_ih"):
            suffix = key[len("weight_ih") :]
            for b in ("bias_ih", "bias_hh"):
                out.setdefault(b + suffix, torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
    return out


def from_torch(
    module: torch.nn.Module, clamp: dict[str, float] | None = None, cell: str | None = None
) -> RecurrentNet:
    """Copy a torch.nn.RNN (tanh or relu), LSTM or GRU, a cell's unrolled module (RecurrentNet.to_torch
    of a CfC), or another package's module a cell reads (ncps' CfC with no backbone). The net takes
    time-major input (T, B, D), whatever the module's batch_first.

    ``cell`` picks which of the cells that compute this module reads it (a tanh RNN can be run as
    "rnn_fused"); by default the first in the registry's order."""

    def read(spec: CellSpec) -> dict | None:
        """The module's sizes and torch-named state if ``spec``'s cell computes it, else None."""
        if spec.torch_module is not None:
            if not isinstance(module, getattr(torch.nn, spec.torch_module)) or any(
                getattr(module, k, None) != v for k, v in spec.torch_kwargs.items()
            ):
                return None
            if getattr(module, "proj_size", 0):
                raise ValueError("module: LSTM with proj_size > 0 is not supported; allowed: proj_size = 0")
        elif isinstance(module, Unrolled):
            if module.cell != spec.name:
                return None
        else:
            return spec.read_module(module) if spec.read_module is not None else None
        sizes = ("input_size", "hidden_size", "num_layers", "bidirectional")
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        found = {k: getattr(module, k) for k in sizes} | {"state": zero_biases_where_missing(state)}
        return found | {"solver": dict(getattr(module, "solver", {}))}

    if cell is not None:
        limits.check_choice("cell", cell, limits.CELLS)
        spec = REGISTRY[cell]
        found = read(spec)
        if found is None:
            kwargs = ", ".join(f"{k}={v!r}" for k, v in spec.torch_kwargs.items())
            wanted = f"torch.nn.{spec.torch_module}({kwargs})" if spec.torch_module else "its own module"
            raise ValueError(f"cell: {cell!r} computes {wanted}, not this {type(module).__name__}")
    else:
        readings = ((s.name, read(s)) for s in REGISTRY.values())
        cell, found = next(((name, f) for name, f in readings if f is not None), (None, None))
    if found is None:
        mirrored = list(dict.fromkeys(s.torch_module for s in REGISTRY.values() if s.torch_module))
        expected = ", ".join(f"torch.nn.{m}" for m in mirrored) + " or a cell's module (ncps' CfC)"
        raise ValueError(f"module: expected {expected}, got {type(module).__name__}")
    return RecurrentNet(
        cell,
        found["input_size"],
        found["hidden_size"],
        found["num_layers"],
        found["bidirectional"],
        found["state"],
        clamp or {},
        found.get("solver", {}),
    )
