"""Ready-made lessons: a config and a few sentences a teacher can read aloud.

Each description states what the numbers will show; tests/app/test_presets.py checks every claim on
the run the preset produces.
"""

from __future__ import annotations

from .schemas import Preset, RunConfig

PRESETS: list[Preset] = [
    Preset(
        name="rnn-vs-lstm",
        title="RNN vs LSTM: the vanishing gradient",
        description=(
            "A plain tanh RNN and an LSTM, both untrained, read the same adding-problem sequence of 60 "
            "steps, and the loss looks at the last step only. Going back in time the RNN's gradient shrinks "
            "tenfold every 4 to 5 steps, so the early marked number is out of its reach; the LSTM keeps its "
            "gradient two to four times longer through its cell state. It owes that to the customary "
            "forget-gate bias of 1: an untrained forget gate sits near σ(0) = 0.5 and halves the cell state "
            "every step, while σ(1) ≈ 0.73 keeps most of it."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "lstm"], task="adding", seq_len=60, hidden_size=32, forget_bias=1.0
        ),
    ),
    Preset(
        name="exploding",
        title="Exploding gradient: spectral radius above 1",
        description=(
            "Both RNNs get orthogonal recurrent weights scaled to a spectral radius of 2.5, so every step "
            "back can multiply the gradient by up to 2.5. The tanh RNN's gradient grows tenfold every 10 "
            "to 14 steps back, held down only where tanh saturates. The ReLU RNN's grows tenfold every "
            "4 or 5 steps, and with most seeds it overflows float32 on the way: infinity, then NaN, "
            "toward the first steps."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "rnn_relu"],
            task="adding",
            seq_len=100,
            hidden_size=32,
            init="orthogonal",
            spectral_radius=2.5,
        ),
    ),
    Preset(
        name="forget-bias",
        title="LSTM forget-gate bias: remembering by default",
        description=(
            "The LSTM's forget gate gets a bias of 4, so it starts almost fully open (f ≈ 0.98): the cell "
            "state is copied forward and the gradient flows back through it instead of vanishing. Over 100 "
            "steps the LSTM's gradient never falls below a thousandth of its size at the loss, while the "
            "RNN's next to it falls below 10^-19 of it. The cell path's Jacobian even grows going back, "
            "by 5 to 250 times over the 100 steps depending on the seed: c_(t-1) also reaches c_t through "
            "h_(t-1) and the recurrent weights, and this feedback adds to the forget gate's near-copy."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "lstm"], task="adding", seq_len=100, hidden_size=32, forget_bias=4.0
        ),
    ),
    Preset(
        name="gru-update-gate",
        title="GRU update gate: a shortcut through time",
        description=(
            "A GRU whose update gate has a bias of 3 mostly keeps its previous state, h_t close to h_(t-1), "
            "which opens a near-identity path back through time. Its gradient shrinks tenfold only every "
            "55 to 60 steps back, more than ten times slower than the plain RNN's on the same 100 steps."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "gru"], task="adding", seq_len=100, hidden_size=32, update_bias=3.0
        ),
    ),
    Preset(
        name="clamp-f1",
        title="Constant error carousel: forget gate clamped to 1",
        description=(
            "Here the LSTM's forget gate is fixed at exactly 1, the constant error carousel of "
            "Hochreiter and Schmidhuber's original LSTM: c_t = c_(t-1) + i_t g_t. The forget path alone "
            "copies the cell state unchanged, so here the Jacobian from the last cell state back to any "
            "earlier one never drops below 1, and the cell-state gradient never falls below half its size "
            "at the loss. Going back it even grows, ||dc_T/dc_t|| by 20 to 400 times over the 100 steps "
            "depending on the seed: c_(t-1) also reaches c_t through h_(t-1) and the recurrent weights into "
            "i and g, and this feedback adds to the identity."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "lstm"], task="adding", seq_len=100, hidden_size=32, clamp={"f": 1.0}
        ),
    ),
]


def by_name(name: str) -> Preset | None:
    return next((p for p in PRESETS if p.name == name), None)
