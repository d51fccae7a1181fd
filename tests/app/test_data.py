"""Your data: a CSV read into the sequence task (values row by row, columns = the input size), every
refusal naming the row and the column, and the run on it equal to the engine's own sequence task."""

from __future__ import annotations

import pytest
import torch

import models
from app.data import DataError, parse_table
from app.schemas import RunConfig


def test_a_csv_with_a_header_becomes_rows_of_values():
    text = "# my sensor\ntemp, humidity\n20.5, 0.3\n\n21.0,0.35\n1e-300,-4\n"
    table = parse_table(text, 501)
    assert table == {
        "values": [20.5, 0.3, 21.0, 0.35, 1e-300, -4.0],
        "columns": 2,
        "rows": 3,
        "names": ["temp", "humidity"],
    }


@pytest.mark.parametrize(
    "text, columns",
    [
        ("1\t2\t3\n4\t5\t6\n", 3),
        ("1;2\n3;4\n", 2),
        ("1 2\n3 4\n5 6\n", 2),
        ("0.5\n-1\n2\n", 1),
        ("1,2,\n3,4,\n", 2),
    ],
)
def test_separators(text, columns):
    assert parse_table(text, 501)["columns"] == columns


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "no numbers"),
        ("a,b\n1,2\n3\n", "row 3 has 1 columns, the table 2"),
        ("1,2\n3,x\n", "row 2, column 2: 'x' is not a number"),
        ("1,2\n3,nan\n", "row 2, column 2: nan is outside the allowed range"),
        ("1,2\n3,1e39\n", "row 2, column 2: 1e39 is outside"),
        ('1,2\n3,""\n', "row 2, column 2 is empty"),
        ("1\n", "1 rows of numbers is outside the allowed range 2 .. 501"),
        (
            ",".join(["1"] * 65) + "\n" + ",".join(["1"] * 65),
            "65 columns is outside the allowed range 1 .. 64",
        ),
    ],
)
def test_refusals_name_the_row_and_column(text, words):
    with pytest.raises(DataError, match=r"^data: ") as err:
        parse_table(text, 501)
    assert words in str(err.value)


def test_post_api_data_then_a_run_on_it(client):
    r = client.post(
        "/api/data", content="x,y,z\n1,2,3\n4,5,6\n7,8,9.5\n", headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    table = r.json()
    config = {
        "cells": ["gru"],
        "task": "sequence",
        "values": table["values"],
        "columns": table["columns"],
        "hidden_size": 4,
    }
    body = client.post("/api/trace", json=config).json()
    assert body["T"] == 2 and body["input"]["input_size"] == 3
    assert body["input"]["labels"] == ["1, 2, 3", "4, 5, 6"]
    task = models.tasks.sequence(torch.tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9.5]]))
    net = models.build("gru", input_size=3, hidden_size=4)
    readout = models.tasks.make_readout(4, 3, seed=0)
    expected = net.trace(task.x, loss=task.loss_fn(readout, "last"))
    assert body["cells"][0]["loss"] == pytest.approx(float(expected.loss), rel=1e-6)
    r = client.post("/api/data", content="1,2\n3,oops\n", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert (detail["type"], detail["loc"], detail["field"]) == ("value_error", ["body", "data"], "data")
    assert detail["msg"] == "data: row 2, column 2: 'oops' is not a number"
    r = client.post("/api/data", content=b"\xff\xfe1,2", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"][0]["msg"]


def test_values_must_fill_whole_rows_and_fit_the_rows_limit():
    with pytest.raises(ValueError, match="values: 5 numbers do not fill rows of columns = 2"):
        RunConfig(task="sequence", values=[1, 2, 3, 4, 5], columns=2)
    with pytest.raises(ValueError, match=r"values: 502 rows is outside the allowed range 2 \.\. 501"):
        RunConfig(task="sequence", values=[0.0] * 1004, columns=2, hidden_size=1)
    assert RunConfig(task="sequence", values=[1, 2, 3, 4, 5, 6], columns=3).steps == 1


def test_training_takes_the_columns():
    from app.schemas import TrainSettings
    from app.training import trainer_kwargs

    values = [float(v) for v in range(24)]
    config = RunConfig(task="sequence", values=values, columns=3, cells=["gru"], hidden_size=4)
    trainer = models.Trainer(**trainer_kwargs(config, "gru", TrainSettings(steps=5)))
    records = trainer.run(3)
    assert len(records) == 3 and trainer.net.input_size == 3
    targets = torch.tensor(values).view(-1, 3)[1:]
    assert trainer.baseline == pytest.approx(float(((targets - targets.mean(0)) ** 2).sum(1).mean()))
