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
            "tenfold every few steps, so the early marked number is out of its reach; the LSTM, with the "
            "customary forget-gate bias of 1, keeps its gradient several times longer through its cell state."
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
            "back can multiply the gradient by up to 2.5. The tanh RNN's gradient grows about tenfold "
            "every 14 steps back, held down only where tanh saturates. The ReLU RNN's grows tenfold every "
            "few steps until it overflows float32: infinity, then NaN, near the first steps."
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
            "The LSTM's forget gate gets a bias of 4, so it starts almost fully open: the cell state is "
            "copied forward and the gradient flows back through it nearly unchanged. Over 100 steps the "
            "LSTM's gradient stays about the same size, while the RNN's next to it vanishes."
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
            "which opens a near-identity path back through time. Its gradient fades more than ten times "
            "slower than the plain RNN's on the same 100 steps."
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
            "Hochreiter and Schmidhuber's original LSTM: c_t = c_(t-1) + i_t g_t. The path from one cell "
            "state to the next is the identity, so the Jacobian from the last cell state back to any "
            "earlier one never drops below 1, and the cell-state gradient keeps its size all the way back."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "lstm"], task="adding", seq_len=100, hidden_size=32, clamp={"f": 1.0}
        ),
    ),
]


def by_name(name: str) -> Preset | None:
    return next((p for p in PRESETS if p.name == name), None)
