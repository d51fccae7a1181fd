"""A run as a short, plain-PyTorch script ("Export ▸ PyTorch script" and ``gateflow script``).

``render(config)`` writes a .py that needs torch alone: it draws the very weights and input the page
shows from the seed (the same generators, in the same order, as models/init.py and models/tasks.py),
or, for a run on an uploaded model, loads its weights from the file ``weights_filename`` names, saved
beside the script (GET /api/weights/{digest}, ``gateflow script --weights``; models.weights.to_bytes),
runs each cell one step at a time with the equations torch.nn.RNN / LSTM / GRU define, keeps every
h_t (and c_t) with ``retain_grad``, backpropagates the run's loss and prints ‖∂L/∂h_t‖ (‖∂L/∂c_t‖) and
the decay fit the page shows. It first checks its cells against torch.nn's own modules.

Text generation only, no torch here: tests/app/test_script.py runs exported scripts and compares
their printout with the engine's trace.
"""

from __future__ import annotations

import json
import textwrap
from string import Template

from . import __version__
from .schemas import CELL_SPECS, GATES, TORCH_CLASS, RunConfig

HEADER = Template('''\
"""$title

Exported by Gateflow $version (gateflow script). Needs torch alone: python this_file.py
$origin
The weights and the input are rounded to float32, as in the page's run; the arithmetic here is
float64, so the tiniest norms are exact (the page carries them exactly too).
"""

$imports
import torch

CELLS = $cells
SEED = $seed
T = $T  # steps
HIDDEN = $hidden  # units per layer and direction
LAYERS = $layers
DIRECTIONS = $directions  # 2: bidirectional (the reverse direction reads the sequence backwards)
LOSS = "$loss"  # "last": the last step with a target; "sum": every such step; "task": their mean

''')

TASKS = {
    "adding-le": '''
def make_task():
    """The adding problem (Le et al. 2015): values U(0, 1) and two markers, one in each half;
    the target at the last step is the sum of the two marked values."""
    gen = torch.Generator().manual_seed(SEED)
    values = torch.rand(T, 1, generator=gen, dtype=torch.float64)
    half = max(T // 2, 1)
    first = torch.randint(0, half, (1,), generator=gen)
    second = torch.randint(half, T, (1,), generator=gen)
    markers = torch.zeros(T, 1, dtype=torch.float64)
    markers[first, 0] = 1.0
    markers[second, 0] = 1.0
    target = torch.zeros(T, 1, 1, dtype=torch.float64)
    target[-1, 0, 0] = values[first, 0] + values[second, 0]
    mask = torch.zeros(T, 1, dtype=torch.bool)
    mask[-1] = True
    x = torch.stack([values, markers], -1)  # (T, 1, 2)
    return x, target, mask, False, 1
''',
    "adding-hochreiter": '''
def make_task():
    """The adding problem (Hochreiter & Schmidhuber 1997): values U(-1, 1), markers -1 at both ends,
    1 at the first marked step (among the first ten) and the second (in the first half); the target
    at the last step is 0.5 + (X1 + X2) / 4."""
    gen = torch.Generator().manual_seed(SEED)
    values = torch.rand(T, 1, generator=gen, dtype=torch.float64) * 2 - 1
    half = max(T // 2, 1)
    first = torch.randint(0, min(10, half), (1,), generator=gen)
    second = (first + 1 + torch.randint(0, max(half - 1, 1), (1,), generator=gen)).clamp(max=T - 1)
    second = torch.where(second == first, (first + 1).clamp(max=T - 1), second)
    markers = torch.zeros(T, 1, dtype=torch.float64)
    markers[0], markers[-1] = -1.0, -1.0
    markers[first, 0] = 1.0
    markers[second, 0] = 1.0
    target = torch.zeros(T, 1, 1, dtype=torch.float64)
    target[-1, 0, 0] = 0.5 + (values[first, 0] + values[second, 0]) / 4
    mask = torch.zeros(T, 1, dtype=torch.bool)
    mask[-1] = True
    x = torch.stack([values, markers], -1)  # (T, 1, 2)
    return x, target, mask, False, 1
''',
    "copy": '''
COPY_LEN = $copy_len


def make_task():
    """The copy task (Arjovsky et al. 2016): COPY_LEN symbols from 1..8, blanks (0), the delimiter (9)
    COPY_LEN + 1 steps before the end, then the symbols again as the target; one-hot input."""
    gen = torch.Generator().manual_seed(SEED)
    symbols = torch.randint(1, 9, (COPY_LEN, 1), generator=gen)
    inputs = torch.zeros(T, 1, dtype=torch.long)
    inputs[:COPY_LEN] = symbols
    inputs[T - COPY_LEN - 1] = 9
    target = torch.zeros(T, 1, dtype=torch.long)
    target[T - COPY_LEN :] = symbols
    x = torch.nn.functional.one_hot(inputs, 10).to(torch.float64)
    return x, target, torch.ones(T, 1, dtype=torch.bool), True, 10
''',
    "delayed_recall": '''
def make_task():
    """Delayed recall: one of 8 symbols at step 0 (one-hot, 0 is the blank), blanks after; the
    answer, the symbol, at the last step."""
    gen = torch.Generator().manual_seed(SEED)
    symbol = torch.randint(0, 8, (1,), generator=gen)
    inputs = torch.zeros(T, 1, dtype=torch.long)
    inputs[0] = symbol + 1
    target = torch.zeros(T, 1, dtype=torch.long)
    target[-1] = symbol
    mask = torch.zeros(T, 1, dtype=torch.bool)
    mask[-1] = True
    x = torch.nn.functional.one_hot(inputs, 9).to(torch.float64)
    return x, target, mask, True, 8
''',
    "sine": '''
PERIOD, NOISE = $period, $noise


def make_task():
    """A sine wave with a random phase (plus Gaussian noise of NOISE); the target is the next clean value."""
    gen = torch.Generator().manual_seed(SEED)
    phase = torch.rand(1, generator=gen, dtype=torch.float64) * 2 * math.pi
    t = torch.arange(T + 1, dtype=torch.float64)[:, None]
    clean = torch.sin(2 * math.pi * t / PERIOD + phase)  # (T + 1, 1)
    x = clean[:-1] + NOISE * torch.randn(T, 1, generator=gen, dtype=torch.float64)
    return x[..., None], clean[1:, :, None], torch.ones(T, 1, dtype=torch.bool), False, 1
''',
    "text": '''
TEXT = $text


def make_task():
    """Characters one-hot over the text's alphabet; the target is the next character."""
    alphabet = sorted(set(TEXT))
    ids = torch.tensor([alphabet.index(ch) for ch in TEXT])
    x = torch.nn.functional.one_hot(ids[:-1], len(alphabet)).to(torch.float64)[:, None]
    return x, ids[1:, None], torch.ones(T, 1, dtype=torch.bool), True, len(alphabet)
''',
    "sequence": '''
VALUES = $values
COLUMNS = $columns  # numbers per step: VALUES is read row by row


def make_task():
    """Your numbers; the input at step t is row t, its target row t + 1."""
    v = torch.tensor(VALUES, dtype=torch.float64).view(-1, COLUMNS)
    return v[:-1, None], v[1:, None], torch.ones(T, 1, dtype=torch.bool), False, COLUMNS
''',
}

INITS = {
    "torch": '''
def init_layer(n_gates, inputs, gen):
    """torch.nn's default: every parameter U(-1/sqrt(H), 1/sqrt(H))."""
    k = 1 / math.sqrt(HIDDEN)

    def uniform(*shape):
        return (torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) * k

    rows = n_gates * HIDDEN
    return [uniform(rows, inputs), uniform(rows, HIDDEN), uniform(rows), uniform(rows)]
''',
    "xavier": '''
def xavier(rows, cols, gen):
    bound = math.sqrt(6.0 / (rows + cols))
    return (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def init_layer(n_gates, inputs, gen):
    """Xavier-uniform, each gate's block on its own; zero biases."""
    w_ih = torch.cat([xavier(HIDDEN, inputs, gen) for _ in range(n_gates)])
    w_hh = torch.cat([xavier(HIDDEN, HIDDEN, gen) for _ in range(n_gates)])
    zeros = torch.zeros(n_gates * HIDDEN, dtype=torch.float64)
    return [w_ih, w_hh, zeros, zeros.clone()]
''',
    "orthogonal": '''
def xavier(rows, cols, gen):
    bound = math.sqrt(6.0 / (rows + cols))
    return (torch.rand(rows, cols, generator=gen, dtype=torch.float64) * 2 - 1) * bound


def orthogonal(n, gen):
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r)).masked_fill(torch.diagonal(r) == 0, 1)


def init_layer(n_gates, inputs, gen):
    """Xavier-uniform input weights; each gate's recurrent block a random orthogonal matrix; zero biases."""
    w_ih = torch.cat([xavier(HIDDEN, inputs, gen) for _ in range(n_gates)])
    w_hh = torch.cat([orthogonal(HIDDEN, gen) for _ in range(n_gates)])
    zeros = torch.zeros(n_gates * HIDDEN, dtype=torch.float64)
    return [w_ih, w_hh, zeros, zeros.clone()]
''',
    "identity": '''
def init_layer(n_gates, inputs, gen):
    """IRNN (Le et al. 2015): W_hh = I, input weights N(0, 1e-6); zero biases."""
    w_ih = torch.randn(n_gates * HIDDEN, inputs, generator=gen, dtype=torch.float64) * 1e-3
    w_hh = torch.eye(HIDDEN, dtype=torch.float64).repeat(n_gates, 1)
    zeros = torch.zeros(n_gates * HIDDEN, dtype=torch.float64)
    return [w_ih, w_hh, zeros, zeros.clone()]
''',
}

RESCALE = '''
SPECTRAL_RADIUS = $radius


def rescale(w_hh, n_gates):
    """Scale each gate's H x H block of W_hh to spectral radius SPECTRAL_RADIUS (its largest |eigenvalue|)."""
    blocks = [b * (SPECTRAL_RADIUS / torch.linalg.eigvals(b).abs().max()) for b in w_hh.chunk(n_gates)]
    return torch.cat(blocks)
'''

GATE_BIAS = """
$constant = $value  # the $gate_name's total bias b_ih + b_hh, all of it in b_ih (gate index $index)
"""

CLAMP = """
# cell -> gate -> a constant: the gate gets zero weights, and the bias whose activation is that value
CLAMP = $clamp
# each cell's gates, in torch's order of the rows of W_ih and W_hh
GATES = $gates


def clamp(cell, params):
    w_ih, w_hh, b_ih, b_hh = (p.clone() for p in params)
    for gate, value in CLAMP.get(cell, {}).items():
        rows = slice(GATES[cell].index(gate) * HIDDEN, (GATES[cell].index(gate) + 1) * HIDDEN)
        v = torch.tensor(value, dtype=torch.float64)
        w_ih[rows], w_hh[rows], b_hh[rows] = 0.0, 0.0, 0.0
        b_ih[rows] = (torch.atanh(v) if gate in ("g", "n") else torch.logit(v)).float().double()
    return [w_ih, w_hh, b_ih, b_hh]
"""

BUILD = '''
N_GATES = $n_gates
$own_init

def build(cell, inputs):
    """Every layer-direction's [W_ih, W_hh, b_ih, b_hh] by torch's names, drawn from SEED in order."""
    gen = torch.Generator().manual_seed(SEED)
    weights = {}
    for layer in range(LAYERS):
        for d in range(DIRECTIONS):
            $draw
$extra            suffix = f"_l{layer}" + ("_reverse" if d else "")
            for name, p in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params):
                weights[name + suffix] = p.float().double()  # the page's float32 weights
    return weights
'''

# the seeded readout, the page's when no trained one is on display
SEEDED_READOUT = '''

def $name(inputs, outputs):
    """$doc"""
    gen = torch.Generator().manual_seed(SEED + 1)
    k = 1 / math.sqrt(inputs)
    w = (torch.rand(outputs, inputs, generator=gen, dtype=torch.float64) * 2 - 1) * k
    b = (torch.rand(outputs, generator=gen, dtype=torch.float64) * 2 - 1) * k
    return w.float().double(), b.float().double()
'''

LOAD = '''
# the uploaded model's weights, saved beside this script (the page's ⤓ .py downloads both)
WEIGHTS_FILE = Path(__file__).with_name("$filename")


def load_weights():
    """Every tensor of WEIGHTS_FILE by torch.nn's names (float32, as the page used them), as float64."""
    if not WEIGHTS_FILE.exists():
        raise SystemExit(f"{WEIGHTS_FILE.name}: not found; save it beside this script ({__file__})")
    return {name: p.double() for name, p in torch.load(WEIGHTS_FILE, weights_only=True).items()}


def build(cell, inputs):
    """Every layer-direction's [W_ih, W_hh, b_ih, b_hh] by torch's names: the uploaded net's."""
    return {name: p for name, p in load_weights().items() if not name.startswith("readout.")}


def make_readout(inputs, outputs):
    """The file's own linear layer (readout.weight, readout.bias) when it has `outputs` rows; else,
    as the page does, the seeded one."""
    saved = load_weights()
    if "readout.weight" in saved and saved["readout.weight"].shape[0] == outputs:
        return saved["readout.weight"], saved["readout.bias"]
    return seeded_readout(inputs, outputs)
'''

CELL_STEPS = {name: spec.script_step for name, spec in CELL_SPECS.items() if spec.script_step}

RUN = '''
STEP = {$steps}
# how each cell computes beyond its weights: a continuous-time cell's timespan Δt between steps and the
# LTC's solver unfolds per step ({} for the others)
SOLVER = {$solver}
TORCH_MODULE = {$modules}
# what else torch.nn's module needs to compute the same cell, and the states per step: (h_t,) or (h_t, c_t)
TORCH_KWARGS = {$kwargs}
STATES = {$states}


def unroll(cell, weights, x):
    """Every layer-direction one step at a time. Returns the top layer's output (T, 1, DIRECTIONS*H)
    and, per layer-direction, the list of its states per step, each kept with retain_grad."""
    states = {}  # (layer, direction) -> [(h_t, c_t) or (h_t,)] in time order
    inputs = x
    for layer in range(LAYERS):
        outs = []
        for d in range(DIRECTIONS):
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            params = [weights[n + suffix] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
$clamp_call            # a zero start that requires grad: every state after it does too (and keeps its .grad)
            zeros = torch.zeros(1, HIDDEN, dtype=torch.float64, requires_grad=torch.is_grad_enabled())
            state = (zeros,) * STATES[cell]
            per_step = [None] * T
            for t in reversed(range(T)) if d else range(T):
                state = STEP[cell](inputs[t], state, *params, **SOLVER[cell])
                if torch.is_grad_enabled():
                    for s in state:
                        s.retain_grad()
                per_step[t] = state
            states[layer, d] = per_step
            outs.append(torch.stack([s[0] for s in per_step]))  # (T, 1, H)
        inputs = torch.cat(outs, -1)
    return inputs, states


def check_against_torch(cell, weights, x):
    """The step equations above against torch.nn's own module with the same weights."""
$no_module    module = getattr(torch.nn, TORCH_MODULE[cell])(
        x.shape[-1],
        HIDDEN,
        num_layers=LAYERS,
        bidirectional=DIRECTIONS == 2,
        dtype=torch.float64,
        **TORCH_KWARGS[cell],
    )
    module.load_state_dict(weights)
    with torch.no_grad():
        expected, _ = module(x)
        mine, _ = unroll(cell, weights, x)
    assert torch.allclose(mine, expected, rtol=1e-9, atol=1e-12), f"{cell}: differs from torch.nn"


def loss_of(output, readout, target, mask, classification):
    y = output @ readout[0].T + readout[1]  # (T, 1, outputs)
    if classification:
        per_step = torch.nn.functional.cross_entropy(y[:, 0], target[:, 0], reduction="none")[:, None]
    else:
        per_step = ((y - target) ** 2).sum(-1)
    per_step = torch.where(mask, per_step, torch.zeros((), dtype=per_step.dtype))
    if LOSS == "last":
        return per_step[int(torch.nonzero(mask[:, 0])[-1])].mean()
    if LOSS == "sum":
        return per_step.sum(0).mean()
    return per_step.sum() / mask.sum().clamp(min=1)


def decay_fit(norms):
    """log10 ||.|| = a + slope t by least squares over the finite, positive norms, in processing order
    (latest step last): 10x smaller every 1/slope steps back; factor, earliest fitted over latest."""
    t = torch.tensor([k for k, v in enumerate(norms) if math.isfinite(v) and v > 0], dtype=torch.float64)
    if len(t) < 2:
        return None
    y = torch.tensor([math.log10(norms[int(k)]) for k in t], dtype=torch.float64)
    tc, yc = t - t.mean(), y - y.mean()
    slope = float(tc @ yc / (tc @ tc))
    return slope, -slope * float(t[-1] - t[0])  # decades per step, log10 of the factor


def describe(fit):
    if fit is None:
        return "too few nonzero values to fit"
    slope, log_factor = fit
    if slope == 0:
        return "flat"
    word = "smaller" if slope > 0 else "larger"
    return f"10x {word} every {1 / abs(slope):.4g} steps back (factor {10**log_factor:.4g})"


def main():
    x, target, mask, classification, outputs = make_task()
    x = x.float().double()  # the page's float32 input
    if not classification:
        target = target.float().double()
    every = max(1, math.ceil(T / 20))
    for cell in CELLS:
        weights = build(cell, x.shape[-1])
$check_call        readout = make_readout(DIRECTIONS * HIDDEN, outputs)
        output, states = unroll(cell, weights, x)
        loss = loss_of(output, readout, target, mask, classification)
        loss.backward()
        print(f"== {cell}  loss {loss.item():.9g}")
        for (layer, d), per_step in states.items():
            names = ["dL/dh_t", "dL/dc_t"][: len(per_step[0])]
            # a state the loss does not reach has no .grad: its gradient is exactly 0
            curves = [
                [float(s[k].grad.norm()) if s[k].grad is not None else 0.0 for s in per_step]
                for k in range(len(names))
            ]
            direction = "reverse" if d else "forward"
            for name, curve in zip(names, curves):
                order = curve[::-1] if d else curve  # processing order, latest step last
                print(f"layer {layer} {direction} ||{name}||: {describe(decay_fit(order))}")
            print("    t  " + "  ".join(f"{'||' + n + '||':>16}" for n in names))
            for t in range(T):
                if t % every == 0 or t == T - 1:
                    print(f"{t:5d}  " + "  ".join(f"{c[t]:16.9g}" for c in curves))


if __name__ == "__main__":
    main()
'''


def _task_key(config: RunConfig) -> str:
    return f"adding-{config.adding_form}" if config.task == "adding" else config.task


def weights_filename(digest: str) -> str:
    """The file an exported script loads an uploaded model from, beside itself: the one name that
    GET /api/weights/{digest}, the page and ``gateflow script --weights`` save it under."""
    return f"gateflow-weights-{digest[:12]}.pt"


def render(config: RunConfig) -> str:
    """The script of one run: its untrained nets drawn from the seed, or (``config.weights``) the
    uploaded model loaded from ``weights_filename(config.weights)`` beside the script."""
    cells = list(config.cells)
    T = config.steps
    uploaded = config.weights is not None
    filename = weights_filename(config.weights) if uploaded else None
    title = (
        f"Gateflow run: {', '.join(cells)} on the {config.task.replace('_', ' ')} task.\n\n"
        f"T = {T} steps, H = {config.hidden_size}, {config.num_layers} layer(s)"
        + (", bidirectional" if config.bidirectional else "")
        + (
            f", seed {config.seed}: your uploaded model\n(weights {config.weights}),\n"
            f"loaded from {filename}: keep that file beside this script."
            if uploaded
            else f", seed {config.seed}, {config.init} initialisation."
        )
    )
    if uploaded:
        what = (
            "It loads the uploaded model's weights (and its readout, if the file has one) "
            "from the file beside",
            f"it, draws the input from seed {config.seed} exactly as the page does, "
            "runs each net one step at a time with",
            "the equations torch.nn.RNN / LSTM / GRU define, keeps every hidden state with retain_grad,",
            "backpropagates the loss and prints the norms and decay figures the page shows.",
        )
    else:
        what = (
            f"It draws the weights and the input from seed {config.seed} exactly as the page does, "
            "runs each net one step",
            "at a time with the equations torch.nn.RNN / LSTM / GRU define, keeps every hidden state with",
            "retain_grad, backpropagates the loss and prints the norms and decay figures the page shows.",
        )
    parts = [
        HEADER.substitute(
            title=title,
            origin="\n".join(what),
            imports="import math\nfrom pathlib import Path\n" if uploaded else "import math\n",
            version=__version__,
            seed=config.seed,
            cells=json.dumps(cells),
            T=T,
            hidden=config.hidden_size,
            layers=config.num_layers,
            directions=config.num_directions,
            loss=config.loss,
        )
    ]
    parts.append(
        Template(TASKS[_task_key(config)]).substitute(
            copy_len=config.copy_len,
            period=repr(config.period),
            noise=repr(config.noise),
            text=json.dumps(config.text, ensure_ascii=False),
            values=json.dumps(list(config.values)),
            columns=config.columns,
        )
    )
    # an uploaded model is run as it is (the engine applies the clamps alone, not the init options)
    extra = []
    if not uploaded:
        parts.append(INITS[config.init])
    own_init = [cell for cell in cells if CELL_SPECS[cell].script_init and not uploaded]  # the LTC's
    for cell in own_init:
        parts.append(CELL_SPECS[cell].script_init)
    if config.spectral_radius is not None and not uploaded:
        parts.append(Template(RESCALE).substitute(radius=repr(config.spectral_radius)))
        rescale = "params[1] = rescale(params[1], N_GATES[cell])"
        extra.append(
            f"if cell not in OWN_INIT:  # no weight matrices to rescale\n    {rescale}"
            if own_init
            else rescale
        )
    for cell_name in cells:
        spec = CELL_SPECS[cell_name]
        for knob in spec.knobs:
            value = getattr(config, knob.name)
            if knob.gate is None or value is None or uploaded:
                continue
            constant, gate = knob.name.upper(), spec.gate(knob.gate)
            index = spec.gate_names.index(knob.gate)
            parts.append(
                Template(GATE_BIAS).substitute(
                    constant=constant, value=repr(value), gate_name=gate.label, index=index
                )
            )
            start = f"{_times(index)}HIDDEN " if index else ""
            rows = f"{start}: {_times(index + 1)}HIDDEN"
            extra.append(
                f'if cell == "{cell_name}":  # the {gate.label}, gate index {index}\n'
                "    params[2], params[3] = params[2].clone(), params[3].clone()\n"
                f"    params[2][{rows}], params[3][{rows}] = {constant}, 0.0"
            )
    clamp = {cell: config.clamp_for(cell) for cell in cells if config.clamp_for(cell)}
    if uploaded:
        parts.append(Template(LOAD).substitute(filename=filename))
        doc = "A linear layer with torch.nn.Linear's initialisation from generator SEED + 1."
        parts.append(Template(SEEDED_READOUT).substitute(name="seeded_readout", doc=doc))
    else:
        parts.append(
            Template(BUILD).substitute(
                n_gates=json.dumps({cell: CELL_SPECS[cell].n_gates for cell in cells}),
                own_init=_own_init_table(own_init),
                draw=_draw_line(own_init),
                extra=textwrap.indent("\n".join(extra) + "\n", " " * 12) if extra else "",
            )
        )
        doc = "The readout, a linear layer with torch.nn.Linear's initialisation from generator SEED + 1."
        parts.append(Template(SEEDED_READOUT).substitute(name="make_readout", doc=doc))
    if clamp:
        gates = {cell: list(GATES[cell]) for cell in clamp}
        parts.append(Template(CLAMP).substitute(clamp=json.dumps(clamp), gates=json.dumps(gates)))
    for cell in cells:
        parts.append(CELL_STEPS[cell])
    parts.append(
        Template(RUN).substitute(
            steps=", ".join(f'"{c}": {c}_step' for c in cells),
            solver=", ".join(f'"{c}": {json.dumps(config.solver_for(c))}' for c in cells),
            modules=", ".join(
                f'"{c}": ' + (f'"{TORCH_CLASS[c]}"' if TORCH_CLASS[c] else "None") for c in cells
            ),
            no_module=(
                "    if TORCH_MODULE[cell] is None:  # no torch.nn module computes this cell\n"
                "        return\n"
                if any(TORCH_CLASS[c] is None for c in cells)
                else ""
            ),
            kwargs=", ".join(f'"{c}": {json.dumps(CELL_SPECS[c].torch_kwargs)}' for c in cells),
            states=", ".join(f'"{c}": {2 if CELL_SPECS[c].has_cell_state else 1}' for c in cells),
            clamp_call="            params = clamp(cell, params)\n" if clamp else "",
            check_call=(
                "        # (no check against torch.nn here: clamped gates are no part of torch's modules)\n"
                if clamp
                else "        check_against_torch(cell, weights, x)\n"
            ),
        )
    )
    return "\n\n\n".join(part.strip("\n") for part in parts) + "\n"


def _own_init_table(own_init: list[str]) -> str:
    """OWN_INIT: the cells that draw their own parameters (the LTC), by their init functions."""
    if not own_init:
        return ""
    table = ", ".join(f'"{cell}": {cell}_init' for cell in own_init)
    return f"# cells that draw their own parameters, whatever the init scheme\nOWN_INIT = {{{table}}}\n"


def _draw_line(own_init: list[str]) -> str:
    """build()'s draw of one layer-direction's parameters, indented to sit in its loop."""
    line = "params = init_layer(N_GATES[cell], size, gen)"
    if own_init:
        line = f"if cell in OWN_INIT:\n    params = OWN_INIT[cell](size, HIDDEN, gen)\nelse:\n    {line}"
    return textwrap.indent(f"size = inputs if layer == 0 else DIRECTIONS * HIDDEN\n{line}", " " * 12).lstrip()


def _times(k: int) -> str:
    """k times HIDDEN in a slice, as a person writes it: "" for 1, "2 * " for 2."""
    return "" if k == 1 else f"{k} * "
