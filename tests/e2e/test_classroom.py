"""Two real browsers in one classroom: the teacher opens a room from the page, a student opens the join
link; the teacher steps and plays, the student's page shows the same t and the same plot; the student
explores alone, comes back, and keeps the view when the class ends."""

from __future__ import annotations

from conftest import Recorder
from helpers import plot_data, shot, state, wait_run

GRAD_PLOT = '[data-plot="grad"] .plot'


def same_t(teacher, student, t: int) -> None:
    teacher.wait_for_function("t => window.gateflow.state.t === t", arg=t, timeout=10_000)
    student.wait_for_function("t => window.gateflow.state.t === t", arg=t, timeout=10_000)
    student.wait_for_function(
        "t => document.querySelector('#t-readout').dataset.t === String(t)", arg=t, timeout=10_000
    )


def test_teacher_and_student_follow_each_other(context, server_url):
    recorders = Recorder(), Recorder()
    teacher = context.new_page()
    recorders[0].attach(teacher)
    teacher.goto(server_url + "/#preset=rnn-vs-lstm")
    wait_run(teacher)
    teacher.click("#btn-teach")
    teacher.wait_for_function("() => window.gateflow.room.role === 'teacher' && window.gateflow.room.joinUrl")
    room = teacher.evaluate("window.gateflow.room")
    assert "token=" in teacher.url and "token" not in room["joinUrl"]
    teacher.wait_for_selector("#room-qr")
    assert teacher.locator("#room-code").inner_text() == room["code"]

    student = context.new_page()
    recorders[1].attach(student)
    student.goto(server_url + f"/?room={room['code']}")
    student.wait_for_function("() => window.gateflow.run && window.gateflow.room.role === 'student'")
    teacher.wait_for_function("() => window.gateflow.room.followers === 1")
    assert teacher.locator("#room-followers").inner_text() == "1 student following"
    assert student.evaluate("window.gateflow.run.id") == teacher.evaluate("window.gateflow.run.id")
    assert student.locator("#room-mode").inner_text() == "Following the teacher"

    for _ in range(5):
        teacher.click("#btn-step")
    same_t(teacher, student, 5)
    teacher.locator(".cell-card").nth(1).click()  # the teacher selects the LSTM
    student.wait_for_function("() => window.gateflow.state.sel === 1")
    # the same plot: the gradient curves the student sees are the teacher's
    assert plot_data(student, GRAD_PLOT) == plot_data(teacher, GRAD_PLOT)
    # the teacher picks the attention panel's lesson from the menu: the student's panel runs it too
    teacher.select_option("#preset", "panel:attention:attention-reaches-back")
    student.wait_for_function("() => window.gateflow.state.attention.length === 240")
    student.wait_for_function(
        "() => document.querySelector('[data-name=\"attention-gradient\"]').data?.[0]?.x.length === 240"
    )
    at_plot = '[data-name="attention-gradient"]'
    assert plot_data(student, at_plot) == plot_data(teacher, at_plot)

    teacher.click("#btn-play")
    student.wait_for_function("() => window.gateflow.playing && window.gateflow.state.t > 8")
    teacher.click("#btn-play")  # pause
    teacher.wait_for_function("() => !window.gateflow.playing")
    t = state(teacher)["t"]
    student.wait_for_function("() => !window.gateflow.playing")
    same_t(teacher, student, t)
    shot(teacher, "classroom-teacher")
    shot(student, "classroom-student")

    # the student explores alone: the teacher's steps no longer move it
    student.click("#btn-detach")
    student.wait_for_selector("#btn-rejoin:not([hidden])")
    student.click("#btn-step")
    student.click("#btn-step")
    student.wait_for_function("t => window.gateflow.state.t === t + 2", arg=t)
    teacher.click("#btn-back")
    teacher.wait_for_function("t => window.gateflow.state.t === t - 1", arg=t)
    assert state(student)["t"] == t + 2
    assert not student.evaluate("window.gateflow.room.following")

    # back to the teacher: the teacher's state now
    student.click("#btn-rejoin")
    same_t(teacher, student, t - 1)
    assert student.evaluate("window.gateflow.room.following")

    # a student who reloads lands on the teacher's state
    student.reload()
    student.wait_for_function("() => window.gateflow.run && window.gateflow.room.following")
    same_t(teacher, student, t - 1)

    teacher.click("#btn-end-room")
    student.wait_for_function("() => window.gateflow.room.role === null")
    assert "class has ended" in student.inner_text("#status")
    assert "room=" not in student.url
    student.click("#btn-step")  # the view stays the student's own
    student.wait_for_function("t => window.gateflow.state.t === t", arg=t)
    for recorder in recorders:
        recorder.check()


def test_a_wrong_code_says_so_and_the_page_works_alone(page, recorder, server_url):
    page.goto(server_url + "/?room=ZZZZZZ")
    page.wait_for_function("() => window.gateflow.run")
    assert page.evaluate("window.gateflow.room.role") is None
    page.fill("#join-code", "abc")
    page.click("#join-form button")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('could not join')")
    assert "not a room code" in page.inner_text("#status")
    # the browser logs the refused join (404) as a console error: nothing else
    others = [e for e in recorder.errors if "404" not in e]
    assert not others, others


def test_the_class_follows_the_teachers_training(context, server_url):
    """The teacher trains in Train mode: each student's page shows the same training curves and, below,
    the checkpoints the teacher's page opens, computed from the teacher's weights; a student who goes
    exploring keeps the teacher's curves to read and trains its own."""
    recorders = Recorder(), Recorder()
    teacher = context.new_page()
    recorders[0].attach(teacher)
    lesson = "cells=rnn_tanh,gru&task=adding&seq_len=30&hidden_size=16&mode=train&budget=60"
    teacher.goto(server_url + f"/#{lesson}")
    wait_run(teacher, cells=["rnn_tanh", "gru"])
    teacher.click("#btn-teach")
    teacher.wait_for_function("() => window.gateflow.room.role === 'teacher' && window.gateflow.room.joinUrl")
    code = teacher.evaluate("window.gateflow.room.code")
    student = context.new_page()
    recorders[1].attach(student)
    student.goto(server_url + f"/?room={code}")
    student.wait_for_function("() => window.gateflow.run && window.gateflow.room.role === 'student'")
    student.wait_for_function("() => window.gateflow.state.mode === 'train'")
    teacher.wait_for_function("() => window.gateflow.room.followers === 1")

    teacher.click("#btn-train-start")
    teacher.wait_for_function("() => window.gateflow.training.status === 'done'", timeout=60_000)
    teacher.wait_for_function("() => window.gateflow.trained && window.gateflow.trained.step === 60")
    student.wait_for_function("() => window.gateflow.training.status === 'done'", timeout=30_000)
    student.wait_for_function("() => window.gateflow.trained && window.gateflow.trained.step === 60")
    mine, theirs = student.evaluate("window.gateflow.training"), teacher.evaluate("window.gateflow.training")
    for key in ("step", "budget", "checkpoints", "cells", "settings"):
        assert mine[key] == theirs[key], key
    assert student.evaluate("window.gateflow.run.id") == teacher.evaluate("window.gateflow.run.id")
    assert plot_data(student, GRAD_PLOT) == plot_data(teacher, GRAD_PLOT)  # the trained nets' gradients
    assert "teacher's training" in student.inner_text(".train-status")
    assert student.input_value("#train-budget") == "60"  # the teacher's settings, in the student's panel
    assert student.is_disabled("#btn-train-reset") and not teacher.is_disabled("#btn-train-reset")
    student.locator("#training").scroll_into_view_if_needed()
    shot(student, "classroom-student-training")

    # exploring: the teacher's curves stay to read; Start trains the student's own nets
    student.click("#btn-detach")
    student.wait_for_function("() => !window.gateflow.room.following")
    # the training's status follows once the server has let the student go (a message later, not at once)
    student.wait_for_function(
        "() => document.querySelector('.train-status').textContent.includes('exploring on your own')"
    )
    student.click("#btn-train-start")
    student.wait_for_function("() => window.gateflow.training.status === 'done'", timeout=60_000)
    own = student.evaluate("window.gateflow.training")
    assert own["id"] == 1 and own["budget"] == 60  # its own session's first training, the teacher's settings
    student.click("#btn-rejoin")
    student.wait_for_function("() => window.gateflow.room.following")
    student.wait_for_function("() => window.gateflow.trained && window.gateflow.trained.step === 60")
    assert student.evaluate("window.gateflow.training.checkpoints") == theirs["checkpoints"]
    for recorder in recorders:
        recorder.check()
