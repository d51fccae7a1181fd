"""Gateflow's engine: RNN, LSTM and GRU traces with every state, gate and gradient through time.

    import models
    net = models.build("lstm", input_size=8, hidden_size=32, seed=0)
    tr = net.trace(x)        # x: (T, D) or (T, B, D)
    tr.h, tr.c, tr.gates, tr.grad_h, tr.jacobian_norm

Pure PyTorch: nothing here imports the web app.
"""

from . import attention, cancel, decay, highway, limits, streams, tasks, weights
from .net import RecurrentNet, build, from_torch, resolve_device, resolve_dtype
from .probe import ProbeRecord
from .trace import Trace
from .train import Checkpoint, StepRecord, Trainer

__all__ = [
    "Checkpoint",
    "ProbeRecord",
    "RecurrentNet",
    "StepRecord",
    "Trace",
    "Trainer",
    "attention",
    "build",
    "cancel",
    "decay",
    "from_torch",
    "highway",
    "limits",
    "resolve_device",
    "resolve_dtype",
    "streams",
    "tasks",
    "weights",
]
