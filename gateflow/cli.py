"""The ``gateflow`` command: serve the web app, trace a run to a file, or export a run as a PyTorch script.

    gateflow serve --port 8000
    gateflow trace run.json -o trace.csv      # the web app's run, no server
    gateflow script run.json -o run.py        # a plain-torch script that rebuilds and checks the run
    gateflow script run.json -o run.py --weights my-lstm.pt   # ... on your trained model (file beside it)

CONFIG.json is the web app's run configuration (the body of POST /api/trace; the page's Trace JSON
export has it under "config"); a field left out takes the page's default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import __version__, _app
from . import config as run_config

EXAMPLE = '{"cells": ["rnn_tanh", "lstm"], "task": "adding", "seq_len": 100, "hidden_size": 32}'


class CliError(Exception):
    """A user's mistake: printed as one line that names the field; exit status 2."""


def serve(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    """Serve the web app. Unset arguments come from the GATEFLOW_* variables; set ones reach every
    worker process through the environment."""
    for name, value in (("HOST", host), ("PORT", port), ("PROCESSES", workers)):
        if value is not None:
            os.environ[f"GATEFLOW_{name}"] = str(value)
    settings = _app("settings")
    settings.get_settings.cache_clear()
    try:
        settings.get_settings()
    except ValueError as err:  # pydantic's ValidationError names the setting
        raise CliError(f"settings: {err}") from err
    _app("__main__").main()


def read_config(path: str):
    """A RunConfig from a JSON file ("-": standard input), its errors naming the field."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CliError(f"CONFIG: cannot read {path}: {err.strerror}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise CliError(
            f"CONFIG: {path} is not JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]  # the page's Trace JSON export
    if not isinstance(data, dict):
        raise CliError(f"CONFIG: {path} must hold a JSON object, e.g. {EXAMPLE}")
    return _config(data)


def _output_format(out: str, fmt: str | None, allowed: tuple[str, ...]) -> str:
    fmt = fmt or Path(out).suffix.lstrip(".").lower()
    if fmt not in allowed:
        raise CliError(
            f"--format: {fmt or '(none)'} is not one of {', '.join(allowed)} (or name -o FILE.json / .csv)"
        )
    return fmt


def _write(out: str, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode()
    if out == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        Path(out).write_bytes(data)
    except OSError as err:
        raise CliError(f"-o: cannot write {out}: {err.strerror}") from err


def trace(config_path: str, out: str, fmt: str | None = None) -> None:
    """The run the web app would show for the config, as its JSON or CSV export."""
    config = read_config(config_path)
    fmt = _output_format(out, fmt, ("json", "csv")) if out != "-" else (fmt or "json")
    engine = _app("engine")
    try:
        run = engine.compute_run(config)
    except engine.EngineError as err:
        raise CliError(str(err)) from err
    _write(out, engine.trace_csv(run) if fmt == "csv" else engine.trace_json(run))


def _config(fields: dict):
    """gateflow.config, its ValueError (naming the field and the allowed range) a one-line CliError."""
    try:
        return run_config(fields)
    except ValueError as err:
        raise CliError(str(err)) from err


def _uploaded(config, weights_path: str):
    """The config on the model of the file at ``weights_path``, read as POST /api/weights reads it: the
    fields CONFIG.json leaves out (cells, sizes) are the file's, ``weights`` is its digest."""
    engine = _app("engine")
    try:
        data = Path(weights_path).read_bytes()
    except OSError as err:
        raise CliError(f"--weights: cannot read {weights_path}: {err.strerror}") from err
    # RunConfig's own bounds, as for gateflow trace (GATEFLOW_MAX_HIDDEN_SIZE and the like bound the web)
    limits = _app("settings").get_settings().model_copy(update={"max_hidden_size": 4096, "max_layers": 8})
    # a plain RNN's nonlinearity is the config's (its weights cannot tell it); an LSTM or GRU has none
    nonlinearity = "relu" if config.cells == ["rnn_relu"] else "tanh"
    try:
        info = engine.upload_weights(data, Path(weights_path).name, nonlinearity, limits)
    except engine.EngineError as err:
        raise CliError(str(err)) from err
    if config.weights not in (None, info["weights"]):
        raise CliError(
            f"--weights: {weights_path} is not the model CONFIG.json ran on (its weights = "
            f"{config.weights[:12]}…, the file's {info['weights'][:12]}…); give that file, or leave "
            '"weights" out of CONFIG.json'
        )
    fields = {"cells": [info["cell"]], **{k: info[k] for k in ("hidden_size", "num_layers", "bidirectional")}}
    body = config.model_dump(mode="json") | {
        k: v for k, v in fields.items() if k not in config.model_fields_set
    }
    config = _config(body | {"weights": info["weights"]})
    try:
        engine.check_uploaded(config)  # the task's input size, and the fields CONFIG.json set, fit the file
    except engine.EngineError as err:
        raise CliError(str(err)) from err
    return config


def script(config_path: str, out: str, weights: str | None = None) -> None:
    """A plain-torch script that rebuilds the run and prints its norms and decay figures; with
    ``weights``, a run on that trained model, whose weights file the script loads is written beside it."""
    config = read_config(config_path)
    exported = _app("script")
    if weights is None:
        if config.weights is not None:
            raise CliError(
                f"weights: the config's run is on an uploaded model ({config.weights[:12]}…); give its "
                "file with --weights FILE (safetensors or .pt): the script loads it from beside itself"
            )
        _write(out, exported.render(config))
        return
    if out == "-":
        raise CliError("-o: with --weights, name the script's file: the weights file is written beside it")
    config = _uploaded(config, weights)
    _write(out, exported.render(config))
    _write(
        str(Path(out).with_name(exported.weights_filename(config.weights))),
        _app("engine").uploaded_file(config.weights),
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gateflow",
        description="See how RNNs, LSTMs and GRUs remember and forget: the web app, its runs from a shell.",
        epilog=f"CONFIG.json: the web app's run configuration, e.g. {EXAMPLE}",
    )
    p.add_argument("--version", action="version", version=f"gateflow {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    s = sub.add_parser(
        "serve",
        help="serve the web app",
        description="Serve the web app. Other settings: GATEFLOW_* variables (README, Settings).",
    )
    s.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a classroom)")
    s.add_argument("--port", type=int, help="port (default 8000)")
    s.add_argument(
        "--workers", type=int, help="server processes (default 1; more need GATEFLOW_BROKER_URL=redis://...)"
    )
    t = sub.add_parser(
        "trace",
        help="compute a run and write its trace (JSON or CSV)",
        description="Compute the run the web app would show for CONFIG.json and write its trace export.",
    )
    t.add_argument("config", metavar="CONFIG.json", help='the run\'s configuration ("-": standard input)')
    t.add_argument("-o", "--output", required=True, metavar="OUT", help='out.json or out.csv ("-": stdout)')
    t.add_argument("--format", choices=("json", "csv"), help="the format, when OUT's suffix does not say")
    x = sub.add_parser(
        "script",
        help="export a run as a plain PyTorch script",
        description="Write a short script, torch only, that rebuilds the run from its seed, "
        "backpropagates with retain_grad and prints the norms and decay figures the page shows.",
    )
    x.add_argument("config", metavar="CONFIG.json", help='the run\'s configuration ("-": standard input)')
    x.add_argument("-o", "--output", required=True, metavar="run.py", help='the script ("-": stdout)')
    x.add_argument(
        "--weights",
        metavar="FILE",
        help="your trained model (a safetensors file or a torch.save'd state dict, as Load weights… takes): "
        "the script runs it, loading it from a weights file written beside run.py",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "serve":
            serve(args.host, args.port, args.workers)
        elif args.command == "trace":
            trace(args.config, args.output, args.format)
        else:
            script(args.config, args.output, args.weights)
    except CliError as err:
        print(f"gateflow {args.command}: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
