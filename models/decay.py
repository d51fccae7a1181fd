"""The decay fit: how a norm through time (||dL/dh_t||, ||dh_T/dh_t||) shrinks or grows going back.

    from models.decay import fit_decay
    fit = fit_decay(trace.grad_h_norm[-1, :, 0])   # (T,), processing order, the latest step last
    fit.direction, fit.steps_per_decade, fit.factor, fit.text

Pure NumPy on one curve, so a notebook can use it on any trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

# A curve is "flat" when any of these holds (see fit_decay):
FLAT_FACTOR = 2.0  # the fitted change across the whole span is below this factor
MIN_R2 = 0.5  # one steady rate explains less than this share of the variance of log10(norm)
# Student's t, 97.5th percentile (a two-sided 95% interval), for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t975(dof: int) -> float:
    """Student's t 97.5th percentile: a table to 30 degrees of freedom, then the Cornish-Fisher
    expansion around the normal quantile (within 1e-4 of the exact value from 30 on)."""
    if dof < 1:
        return math.inf
    if dof <= len(_T975):
        return _T975[dof - 1]
    z = 1.959963984540054
    return (
        z
        + (z**3 + z) / (4 * dof)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * dof**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * dof**3)
    )


@dataclass(frozen=True)
class DecayFit:
    """A least-squares fit of log10(norm_t) = a + slope * t over the finite, positive values.

    slope > 0: the norm shrinks going back in time (10x every 1/slope steps); < 0: it grows.
    factor: the fitted norm at the earliest fitted step over the one at the latest (10**(-slope*width)).
    low, high: the smallest and largest fitted value over the latest fitted one (what the curve does,
    not the line). direction "zero": exactly 0 at every step but at most one, nothing to fit.
    """

    direction: str  # "decays" | "grows" | "flat" | "zero"
    text: str
    span: int  # how many steps were fitted
    width: int = 0  # steps from the earliest fitted one to the latest (factor is over these)
    steps_per_decade: float | None = None  # 1/|slope|, for "decays" and "grows"
    factor: float | None = None
    slope: float | None = None  # decades per step, forward in time
    slope_ci: float | None = None  # half-width of the slope's 95% confidence interval
    r2: float | None = None  # share of the variance of log10(norm) the line explains
    low: float | None = None
    high: float | None = None
    zeros: int = 0  # steps where the norm is exactly 0, left out of the fit
    nonfinite: int = 0  # steps where it is inf or NaN, left out
    explanation: str | None = None


def _pow10(x: float) -> float:
    """10**x, inf past float64's range instead of Python's OverflowError."""
    return math.inf if x > 308.25 else 10.0**x


def _steps(k: float) -> str:
    return f"{k:.0f}" if k >= 100 else f"{k:.3g}"


def _x(value: float) -> str:
    return f"{value:.2g}"


def _left_out(zeros: int, nonfinite: int) -> str:
    """e.g. "2 inf or NaN, 1 exactly 0"."""
    parts = [f"{nonfinite} inf or NaN"] if nonfinite else []
    parts += [f"{zeros} exactly 0"] if zeros else []
    return ", ".join(parts)


def fit_decay(norm, unit: str = "step") -> DecayFit:
    """Fit log10(norm_t) on t by least squares over the finite, positive values of ``norm``.

    ``unit`` names what t counts in the sentences ("layer" for a stack over depth, models/highway.py).

    ``norm`` is in processing order, its latest step last (flip a reverse direction's curve first).
    Inf, NaN and exact zeros are data, never an error: they are left out of the fit and counted.

    The curve is "flat" (no trend the data support, so no rate is given) when any of these holds:
      1. the fitted change across the span is below FLAT_FACTOR (2x): too small to matter;
      2. the slope's 95% confidence interval includes 0 (standard error from the residuals,
         Student's t with n - 2 degrees of freedom; needs n >= 3): the trend is not distinguishable
         from scatter around a constant;
      3. R^2 < MIN_R2 (0.5): one steady rate explains less than half of the variance of log10(norm),
         the ups and downs are bigger than the trend, and "10x every k steps" would misdescribe it.
         Rule 2 alone is not enough here: neighbouring steps of a recurrent net are strongly
         correlated, so the residuals are not independent and that interval comes out too narrow.
    On the presets over seeds 0-9 (tests/app/test_presets.py) the RNN, GRU and forget-bias-1 LSTM
    curves have R^2 >= 0.97 and change by 15x to 1e29x; the LSTMs with f near 1 have R^2 from 0.0 to
    0.99: the gradient at the loss's own step stands out, then the rest drifts up or down slowly.
    """
    units = unit + "s"
    norm = np.asarray(norm, dtype=np.float64).reshape(-1)
    T = norm.shape[0]
    finite = np.isfinite(norm)
    zeros, nonfinite = int((norm == 0).sum()), int((~finite).sum())
    ok = finite & (norm > 0)
    n = int(ok.sum())
    if n < 2:  # nothing to fit: span 0
        if zeros and zeros >= nonfinite:
            text = f"exactly 0 at {zeros} of {T} {units}: nothing flows back"
            return DecayFit("zero", text, span=0, zeros=zeros, nonfinite=nonfinite)
        text = f"too few finite, nonzero values to fit a rate: {n} of {T} {units}"
        if zeros or nonfinite:
            text += f" ({_left_out(zeros, nonfinite)})"
        return DecayFit("flat", text, span=0, zeros=zeros, nonfinite=nonfinite)
    counts = dict(span=n, zeros=zeros, nonfinite=nonfinite)
    t, y = np.flatnonzero(ok).astype(np.float64), np.log10(norm[ok])
    tc, yc = t - t.mean(), y - y.mean()
    sxx, syy = float(tc @ tc), float(yc @ yc)
    slope = float(tc @ yc) / sxx
    residual = yc - slope * tc
    sse = float(residual @ residual)
    r2 = 1.0 - sse / syy if syy > 0 else 1.0
    ci = t975(n - 2) * math.sqrt(sse / (n - 2) / sxx) if n >= 3 else math.inf
    width = int(t[-1] - t[0])
    change = -slope * width  # log10 of factor
    factor = _pow10(change)
    rel = y - y[-1]
    low, high = _pow10(float(rel.min())), _pow10(float(rel.max()))
    fit = dict(width=width, factor=factor, slope=slope, slope_ci=ci, r2=r2, low=low, high=high, **counts)
    note = f" (fitted over {n} of {T} {units}; left out: {_left_out(zeros, nonfinite)})" if n < T else ""
    small = abs(change) < math.log10(FLAT_FACTOR)
    if small or (n >= 3 and abs(slope) <= ci) or r2 < MIN_R2:
        if small and high / low <= FLAT_FACTOR**2:
            text = f"about constant over these {n} {units}: stays within {_x(low)}x–{_x(high)}x"
        else:
            text = f"no steady rate over these {n} {units}: it stays between {_x(low)}x and {_x(high)}x"
        text += " of its last value"
        return DecayFit("flat", text + note, **fit)
    k = 1.0 / abs(slope)
    word = "smaller" if slope > 0 else "larger"
    if abs(change) >= 1:
        text = f"10x {word} every {_steps(k)} {units} back"
    else:
        total = factor if factor > 1 else 1 / factor
        text = f"{_x(total)}x {word} over these {width} {units} back (10x every {_steps(k)})"
    return DecayFit("decays" if slope > 0 else "grows", text + note, steps_per_decade=k, **fit)


REVERSE_NOTE = " (back in this reverse direction's own order: toward higher t)"


def fit_decay_by_t(norm, reverse: bool = False) -> DecayFit:
    """``fit_decay`` of a curve indexed by t as the views plot it: a reverse direction processes it from
    the end, so it is flipped first, and a trend's sentence says that "back" is toward higher t."""
    norm = np.asarray(norm, dtype=np.float64).reshape(-1)
    fit = fit_decay(norm[::-1] if reverse else norm)
    if reverse and fit.direction in ("decays", "grows"):
        fit = replace(fit, text=fit.text + REVERSE_NOTE)
    return fit
