"""RunConfig and the message schemas: the bounds, and that every error names its field and range."""

from __future__ import annotations

import numpy as np
import orjson
import pytest
from pydantic import ValidationError

import models
from app import schemas
from app.schemas import CLIENT_MESSAGE, RunConfig, describe_errors


def test_names_agree_with_the_engine():
    assert schemas.CELLS == models.limits.CELLS
    assert schemas.GATES == models.limits.GATES
    assert schemas.CLAMPABLE == models.limits.CLAMPABLE
    assert schemas.INITS == models.limits.INIT_SCHEMES
    assert schemas.LOSSES == models.limits.LOSSES
    assert schemas.DEVICES == models.limits.DEVICES
    assert schemas.TASKS == models.tasks.TASKS
    assert schemas.ADDING_FORMS == models.tasks.ADDING_FORMS
    assert schemas.OPTIMIZERS == models.limits.OPTIMIZERS
    assert set(schemas.TASKS) == set(models.limits.TRAIN_TASKS)  # every view task can be trained
    properties = schemas.TrainSettings.model_json_schema()["properties"]
    for name in ("lr", "momentum", "clip"):  # TrainSettings' bounds are the engine's
        bounds = next(b for b in [properties[name], *properties[name].get("anyOf", [])] if "minimum" in b)
        ge, le = bounds["minimum"], bounds["maximum"]
        assert (ge, le) == models.limits.LIMITS[name]


def test_defaults_match_the_protocol():
    c = RunConfig()
    assert c.cells == ["rnn_tanh", "lstm"]
    assert (c.hidden_size, c.num_layers, c.bidirectional, c.seq_len, c.seed) == (32, 1, False, 60, 0)
    assert (c.init, c.spectral_radius, c.forget_bias, c.update_bias, c.clamp) == (
        "torch",
        None,
        None,
        None,
        {},
    )
    assert (c.task, c.text, c.values, c.period, c.noise) == ("adding", "hello world", [0, 1, 0, -1, 0], 20, 0)
    assert (c.adding_form, c.copy_len, c.loss, c.device) == ("le", 5, "last", "cpu")


def fields_of(config: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        RunConfig(**config)
    return [(e["field"], e["msg"]) for e in describe_errors(info.value.errors())]


@pytest.mark.parametrize(
    ("config", "field", "allowed"),
    [
        ({"hidden_size": 129}, "hidden_size", "1 .. 128"),
        ({"hidden_size": 0}, "hidden_size", "1 .. 128"),
        ({"num_layers": 4}, "num_layers", "1 .. 3"),
        ({"seq_len": 501}, "seq_len", "2 .. 500"),
        ({"seq_len": 1}, "seq_len", "2 .. 500"),
        ({"seed": -1}, "seed", "0 .. 2147483647"),
        ({"seed": 2**31}, "seed", "0 .. 2147483647"),
        ({"spectral_radius": 11}, "spectral_radius", "0 .. 10"),
        ({"forget_bias": -11}, "forget_bias", "-10 .. 10"),
        ({"update_bias": 10.5}, "update_bias", "-10 .. 10"),
        ({"clamp": {"f": 1.5}}, "clamp.f", "0 .. 1"),
        ({"clamp": {"g": -2}}, "clamp.g", "-1 .. 1"),
        ({"period": 1}, "period", "2 .. 1000"),
        ({"noise": 2}, "noise", "0 .. 1"),
        ({"copy_len": 21}, "copy_len", "1 .. 20"),
        ({"text": "x" * 502}, "text", "2 .. 501"),
        ({"text": "x"}, "text", "2 .. 501"),
        ({"values": [1.0]}, "values", "2 .. 501"),
        ({"cells": []}, "cells", "1 .. 3"),
    ],
)
def test_bound_errors_name_field_and_range(config, field, allowed):
    errors = fields_of(config)
    assert errors[0][0] == field
    assert errors[0][1].startswith(f"{field}:")
    assert allowed in errors[0][1]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"cells": ["lstm", "lstm"]}, "cells"),
        ({"cells": ["transformer"]}, "cells"),
        ({"cells": ["rnn_tanh", "lstm", "gru", "rnn_relu"]}, "cells"),
        ({"init": "he"}, "init"),
        ({"task": "chess"}, "task"),
        ({"loss": "max"}, "loss"),
        ({"device": "tpu"}, "device"),
        ({"adding_form": "x"}, "adding_form"),
        ({"clamp": {"q": 0.5}}, "clamp.q"),
        ({"values": [1.0, float("nan")]}, "values"),
        ({"spectral_radius": float("inf")}, "spectral_radius"),
        ({"colour": "red"}, "colour"),
        ({"task": "copy", "seq_len": 10, "copy_len": 5}, "seq_len"),
    ],
)
def test_invalid_choices_name_the_field(config, field):
    assert fields_of(config)[0][0] == field


def test_values_must_fit_float32():
    """1e40 is a finite float64 but inf in the float32 engine: refused, naming the value's index."""
    errors = fields_of({"task": "sequence", "values": [0.0, 2.0, -1e40]})
    assert errors == [
        (
            "values",
            "values: values[2] = -1e+40 is outside the allowed range -3.4028235e38 .. 3.4028235e38 "
            "(the largest float32; the engine computes in float32)",
        )
    ]
    edge = RunConfig(task="sequence", values=[3.4028234663852886e38, -3.4028234663852886e38, 0.0])
    assert edge.values[0] == float(np.float32(3.4028235e38))  # float32's largest itself is allowed


def test_run_size_error_names_seq_len_and_the_product():
    errors = fields_of({"seq_len": 500, "hidden_size": 128, "num_layers": 3})
    assert errors[0][0] == "seq_len"
    assert "500 * 128 * 3 * 1 = 192000" in errors[0][1] and "131072" in errors[0][1]
    text_errors = fields_of({"task": "text", "text": "ab" * 250, "hidden_size": 128, "num_layers": 3})
    assert text_errors[0][0] == "seq_len" and "len(text) - 1" in text_errors[0][1]


def test_text_and_sequence_take_their_own_length():
    assert RunConfig(task="text", text="hello").steps == 4
    assert RunConfig(task="sequence", values=[1, 2, 3]).steps == 2
    assert RunConfig(task="sine", seq_len=30).steps == 30


def test_settings_bound_moves_with_the_environment(monkeypatch):
    from app.settings import get_settings

    monkeypatch.setenv("GATEFLOW_MAX_HIDDEN_SIZE", "16")
    get_settings.cache_clear()
    try:
        assert fields_of({"hidden_size": 17})[0] == (
            "hidden_size",
            "hidden_size: 17 is outside the allowed range 1 .. 16",
        )
    finally:
        monkeypatch.delenv("GATEFLOW_MAX_HIDDEN_SIZE")
        get_settings.cache_clear()
    assert RunConfig(hidden_size=17).hidden_size == 17


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "step", "delta": "two"}, "delta"),
        ({"type": "seek", "t": -1}, "t"),
        ({"type": "play", "rate": 0.1}, "rate"),
        ({"type": "play", "rate": 61}, "rate"),
        ({"type": "play", "direction": 0}, "direction"),
        ({"type": "pause", "extra": 1}, "extra"),
    ],
)
def test_client_message_errors(message, field):
    with pytest.raises(ValidationError) as info:
        CLIENT_MESSAGE.validate_python(message)
    assert describe_errors(info.value.errors(), strip=1)[0]["field"] == field


def test_client_message_defaults():
    assert CLIENT_MESSAGE.validate_python({"type": "step"}).delta == 1
    play = CLIENT_MESSAGE.validate_python({"type": "play"})
    assert (play.rate, play.direction) == (10.0, 1)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"bidirectional": "yes"}, "bidirectional"),  # was read as true
        ({"bidirectional": 1}, "bidirectional"),
        ({"noise": False}, "noise"),  # was read as 0.0
        ({"hidden_size": "23"}, "hidden_size"),
        ({"hidden_size": True}, "hidden_size"),
        ({"hidden_size": 23.5}, "hidden_size"),
        ({"seed": "7"}, "seed"),
        ({"text": 12345}, "text"),
        ({"values": ["1", "2"]}, "values"),
    ],
)
def test_no_loose_coercion(config, field):
    assert {f for f, _ in fields_of(config)} == {field}
    message = CLIENT_MESSAGE.validate_json(
        orjson.dumps({"type": "configure", "config": {"cells": ["gru"]}})
    )  # the messages are strict too, and a valid one still passes
    assert message.config.cells == ["gru"]
    with pytest.raises(ValidationError):
        CLIENT_MESSAGE.validate_json(orjson.dumps({"type": "configure", "config": config}))


def test_an_integral_json_number_is_an_integer():
    """JSON (and the OpenAPI spec's "integer") has 23.0 == 23; strictness must not refuse it."""
    config = RunConfig.model_validate_json(b'{"hidden_size": 23.0, "seq_len": 40.0}')
    assert (config.hidden_size, config.seq_len) == (23, 40)
    assert isinstance(config.hidden_size, int)


def test_gateflow_device_is_the_default_device(monkeypatch):
    from app.settings import get_settings

    monkeypatch.setenv("GATEFLOW_DEVICE", "auto")
    get_settings.cache_clear()
    try:
        assert RunConfig().device == "auto"
        assert RunConfig(device="cpu").device == "cpu"
    finally:
        monkeypatch.delenv("GATEFLOW_DEVICE")
        get_settings.cache_clear()
    assert RunConfig().device == "cpu"
