"""Ready-made lessons: a config and a few sentences a teacher can read aloud.

Each description states what the numbers will show; tests/app/test_presets.py checks every claim on
the run the preset produces. The training lessons (``train`` set: the page opens in Train mode, ``sweep``
set: a length sweep) state what a live training shows; tests/app/test_train_presets.py checks them on
the trainings the server runs, and bench/train_presets.py measures their figures (bench/RESULTS.md).
"""

from __future__ import annotations

from .schemas import (
    AttentionConfig,
    AttentionLesson,
    AttentionTraining,
    HighwayConfig,
    HighwayLesson,
    HighwayTraining,
    Preset,
    RunConfig,
    SweepSettings,
    TrainSettings,
)

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
            "4 or 5 steps, and with most seeds it passes float32's largest number (3.4e38) on the way: "
            "the float32 gradient there is infinity, what a float32 training step would get, while its "
            "norm, kept in float64, shows how far past it goes."
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
    Preset(
        name="fused-input",
        title="The fused-input RNN: one matmul a step, the same memory",
        description=(
            "The fused-input RNN is the tanh RNN computed another way: each step stacks x_t, a constant 1 "
            "and h_(t-1) into one vector and multiplies it by one matrix [W_ih, b, W_hh], where the plain "
            "form adds an input product to a recurrent product. Both nets get the same weights from the "
            "same seed, so every hidden state and gradient on the screen agrees to at least five "
            "significant digits, the rounding of float32 summed in another order. The fused net's gradient "
            "vanishes exactly as fast, tenfold every 4 to 5 steps back: fusing the input changes how much "
            "work a step takes, not what the network remembers."
        ),
        config=RunConfig(cells=["rnn_tanh", "rnn_fused"], task="adding", seq_len=60, hidden_size=32),
    ),
    Preset(
        name="cfc-time-gate",
        title="The CfC cell: a time gate is not a memory gate",
        description=(
            "The closed-form continuous-time (CfC) cell mixes two tanh heads of [x_t, h_(t−1)] with a time "
            "gate, h_t = f1·(1 − ti) + ti·f2 with ti = σ(t_a·Δt + t_b): its closed-form answer to how far "
            "each neuron moves in one time step Δt = 1. Nothing carries h_(t−1) past the heads, as the "
            "LSTM's cell state or the GRU's z·h_(t−1) does, so every step back goes through a tanh and a "
            "weight matrix. Untrained, with ti between 0.25 and 0.75, the two heads' mixed matrices shrink "
            "the gradient faster than the tanh RNN's: tenfold every 2 to 3 steps back, against every 4 to 5 "
            "for the RNN and 5 to 6 for the GRU."
        ),
        config=RunConfig(cells=["rnn_tanh", "gru", "cfc"], task="adding", seq_len=60, hidden_size=32),
    ),
    Preset(
        name="ltc-liquid-time",
        title="The LTC cell: a liquid time constant that leaks within a step",
        description=(
            "A liquid time-constant (LTC) neuron is a leaky membrane whose conductances the other neurons "
            "and the input open through steep sigmoid synapses, so its time constant τ = cm / (gleak + "
            "Σ synapses) changes with what it sees: here each unit's τ moves by a factor of 1.9 to 6 "
            "along the sequence. Untrained (ncps' initial ranges), τ is 0.04 to 0.7 of a time step and "
            "each step keeps under a tenth of the old voltage (keep = Π cm_t/den over the solver's six "
            "unfolds), so the gradient fades tenfold about every step back (0.6 to 1.3 steps), against "
            "every 4 to 5 steps for the tanh RNN and 5 to 6 for the LSTM. Training teaches it to keep more."
        ),
        config=RunConfig(cells=["rnn_tanh", "lstm", "ltc"], task="adding", seq_len=60, hidden_size=32),
    ),
    Preset(
        name="ltc-timespan",
        title="Continuous time: inputs close together, and the LTC remembers",
        description=(
            "The LTC and the CfC are continuous-time cells, and here a time Δt = 0.03 passes between two "
            "inputs instead of 1 (ncps' timespans, the settings' 'Timespan Δt'). The LTC's membrane has "
            "little time to leak: each step keeps 0.7 to 0.8 of its voltage on average (under a hundredth "
            "at Δt = 1), and its gradient fades tenfold every 11 to 23 steps back instead of about every "
            "step. The untrained CfC hardly changes, tenfold every 2.3 to 3.1 steps as at Δt = 1: Δt only "
            "scales the slope t_a of its time gate, and every path back still runs through its weight "
            "matrices; the tanh RNN, which has no clock, every 4 to 5."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "cfc", "ltc"], task="adding", seq_len=60, hidden_size=32, timespan=0.03
        ),
    ),
    Preset(
        name="train-adding",
        title="Training: the adding problem at T = 100",
        description=(
            "The tanh RNN, the LSTM (forget-gate bias 1) and the GRU, 32 units each, learn the adding "
            "problem at T = 100 on the same batches: the answer is the sum of two marked numbers, one in "
            "each half of the sequence, and predicting it without memory scores the baseline MSE 1/6 ≈ "
            "0.167. With this seed the GRU gets below held-out MSE 0.01 after about 180 steps and the LSTM, "
            "after a plateau at the baseline and a sudden drop, after about 390, some 20 seconds on a "
            "2-core machine (with other seeds 140 to 180 steps for the GRU, 390 to 800 for the LSTM). The "
            "RNN, trained just as long, stays at the baseline, its held-out MSE never below 0.15: the first "
            "marked number, 50 to 100 steps back, is out of its gradient's reach."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "lstm", "gru"],
            task="adding",
            seq_len=100,
            hidden_size=32,
            forget_bias=1.0,
            loss="task",
            seed=6,
        ),
        train=TrainSettings(optimizer="adam", lr=0.02, batch_size=64, clip=1.0, steps=1000),
    ),
    Preset(
        name="train-clipping",
        title="Training: clipping tames an exploding gradient",
        description=(
            "A ReLU RNN of 16 units starts from identity recurrent weights scaled to 1.2 (Le, Jaitly and "
            "Hinton's IRNN, a little too strong) and learns to predict the next value of a sine wave over "
            "50 steps with plain SGD (lr 0.2, momentum 0.9) and no clipping; always predicting 0 scores the "
            "baseline MSE 0.5. Its first gradient norm is already 4,000 to 34,000, that one step blows the "
            "weights up, and at step 2 the loss is infinite or NaN: training stops there, with each of the "
            "10 seeds we tried. Now set Clip to 1 and start again from scratch (Start over): the "
            "gradient norm still spikes into the millions, but every step's gradient is cut to length 1, "
            "and the held-out MSE falls below half the baseline within 20 to 30 steps and ends at 0.002 to "
            "0.031 after 300 steps."
        ),
        config=RunConfig(
            cells=["rnn_relu"],
            task="sine",
            seq_len=50,
            hidden_size=16,
            init="identity",
            spectral_radius=1.2,
            loss="task",
        ),
        train=TrainSettings(optimizer="sgd", lr=0.2, momentum=0.9, batch_size=64, clip=None, steps=300),
    ),
    Preset(
        name="train-forget-bias",
        title="Training: forget-gate bias 1 lets the LSTM start learning",
        description=(
            "An LSTM of 64 units must name which of 8 symbols it saw 19 steps earlier, across a run of "
            "blanks; a guess scores the baseline, ln 8 ≈ 2.08 nats. With forget-gate bias 1 the gate starts "
            "near σ(1) ≈ 0.73, enough of the symbol survives the 19 steps for the gradient to find it, and "
            "the held-out loss leaves the baseline within 40 to 70 steps (with this seed it is below half "
            "of it at step 60 and at 0.001 after 500 steps; other seeds get below half in 50 to 320 steps, "
            "or stall near ln 4 ≈ 1.39, 2 of the 10 we tried). Now set the forget bias off "
            "(torch's init: the gate starts near σ(0) = 0.5) and train again: after all 500 steps the loss "
            "is still at the baseline, 2.07 to 2.08, with each of the 10 seeds."
        ),
        config=RunConfig(
            cells=["lstm"],
            task="delayed_recall",
            seq_len=20,
            hidden_size=64,
            forget_bias=1.0,
            loss="task",
            seed=1,
        ),
        train=TrainSettings(optimizer="adam", lr=0.003, batch_size=64, clip=1.0, steps=500),
    ),
    Preset(
        name="train-length-sweep",
        title="Training: how far back can each cell remember?",
        description=(
            "Each cell learns the adding problem from scratch at T = 10, 20, 40 and 80, 600 steps at each "
            "length (32 units, Adam lr 0.02, clip 1), and the sweep plots its final held-out MSE against T "
            "beside the baseline 1/6; it takes about a minute. The tanh RNN learns it at T = 10 (its MSE 2 "
            "to 3% of the baseline) but from T = 20 on it ends at the baseline (0.87 to 1.16 times it), "
            "while the LSTM stays below 2% of the baseline up to T = 40 and the GRU below 1% even at T = "
            "80. At T = 80 the LSTM may still sit on its plateau after 600 steps: of the three seeds we "
            "tried, one ended there at the baseline, the other two below 6% of it."
        ),
        config=RunConfig(
            cells=["rnn_tanh", "lstm", "gru"],
            task="adding",
            seq_len=80,
            hidden_size=32,
            forget_bias=1.0,
            loss="task",
        ),
        train=TrainSettings(optimizer="adam", lr=0.02, batch_size=64, clip=1.0, steps=600),
        sweep=SweepSettings(lengths=[10, 20, 40, 80], steps=600),
    ),
]


def by_name(name: str) -> Preset | None:
    return next((p for p in PRESETS if p.name == name), None)


# The highway panel's lessons (POST /api/highway); tests/app/test_highway_api.py checks each claim on the
# live answers for seeds 0 to 9.
HIGHWAY_LESSONS: list[HighwayLesson] = [
    HighwayLesson(
        name="highway-carries-depth",
        title="Highway gates carry the gradient through 30 layers; a plain stack loses it",
        description=(
            "Two stacks of 30 tanh layers, 32 units wide, with the same weights in H. The plain stack's "
            "gradient shrinks tenfold every 3.5 to 4.5 layers on the way down and reaches the input at "
            "below 10⁻⁷ of its size at the top, as a tanh RNN's fades going back in time. The highway's "
            "transform gates start with a bias of −3, so every layer's carry gate 1 − T averages more "
            "than 0.9 and most of each layer's input passes through unchanged: its gradient shrinks "
            "tenfold only every 40 or more layers, and more than a fifth of it reaches the input."
        ),
        config=HighwayConfig(layers=30, width=32, carry_bias=-3.0, activation="tanh"),
    ),
    HighwayLesson(
        name="highway-trains-deep",
        title="Trained 30 layers deep, the highway learns; the plain stack learns nothing",
        description=(
            "Both stacks, 30 tanh layers 32 units wide, train side by side for 300 steps on the same "
            "batches to fit a random teacher, y = tanh(A x). The highway's held-out loss falls to a quarter "
            "or less of what guessing each output's mean gets: its carry gates pass the input up to the top "
            "and the gradient back down to every layer. The plain stack's stays within 5% of the guess: "
            "at the start its 30 layers squash every input to nearly the same output, and the gradient "
            "reaching its lowest layer is more than a million times smaller than at the top, so the layers "
            "below barely learn."
        ),
        config=HighwayConfig(layers=30, width=32, carry_bias=-3.0, activation="tanh"),
        training=HighwayTraining(steps=300, lr=3e-3, batch_size=64),
    ),
]

# The attention panel's lessons (POST /api/attention); tests/app/test_attention_api.py checks each claim on
# the live answers for seeds 0 to 9.
ATTENTION_LESSONS: list[AttentionLesson] = [
    AttentionLesson(
        name="attention-reaches-back",
        title="Attention reaches back 200 steps undiminished; the RNN does not",
        description=(
            "One layer of causal self-attention and an untrained tanh RNN of the same width read the same "
            "240 random inputs, and the loss reads the last step only. The attention's last step looks at "
            "every earlier step directly, through one weight each, so the gradient reaching the input 200 "
            "steps back is as large as the one reaching the input one step back, within a factor of 10 "
            "either way, and no steady decay fits its curve. The RNN's gradient has to pass through 200 "
            "step Jacobians: it shrinks tenfold every 2.5 to 3.5 steps back and arrives below 10⁻⁵⁰ of "
            "its one-step-back size."
        ),
        config=AttentionConfig(length=240, width=32, heads=2, positions="sinusoidal", compare="rnn_tanh"),
    ),
    AttentionLesson(
        name="attention-learns-adding",
        title="Trained on the adding problem, attention learns where to look; the RNN learns nothing",
        description=(
            "Both models train side by side for 300 steps on the adding problem with T = 100 (Le et al. "
            "2015: add the two numbers marked among 100, answer at the last step), on the same batches. "
            "The attention's held-out loss falls below 2% of what guessing the mean sum gets (1/6), and on "
            "the held-out sequence shown one of its heads puts 80% or more of the last step's weight on the "
            "two marked steps: it learned where to look. The tanh RNN's loss stays within 15% of the "
            "guess: even trained, its gradient shrinks tenfold every 3 to 5 steps back, so the first "
            "marked number, tens of steps back, never reaches its weights."
        ),
        config=AttentionConfig(length=100, width=32, heads=2, positions="sinusoidal", compare="rnn_tanh"),
        training=AttentionTraining(steps=300, lr=3e-3, batch_size=32),
    ),
]
