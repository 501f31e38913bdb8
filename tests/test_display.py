"""What learners look at: reports' reprs and HTML tables, plots, the progress report, the command's words.

Notebook rendering itself (the widget, the tables, the figure inline) is checked by executing
the notebooks (tests/test_notebooks.py); here the pieces, value by value.
"""

from __future__ import annotations

import argparse
import html.parser
import io
import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import minifw.app
from minifw import (
    MNIST,
    CentralDiff,
    CrossEntropy,
    Estimate,
    Evaluation,
    History,
    RichardsonDiff,
    Trainer,
    TwoLayerNet,
    gradcheck,
)
from minifw.app.cli import _parser, main
from minifw.app.config import EXAMPLE_CONFIG, TrainConfig
from minifw.app.plotting import plot_history
from minifw.train import progress
from minifw.train.progress import Lines, Notebook, progress_for


class Table(html.parser.HTMLParser):
    """The caption, the header and the rows of the one table an HTML string holds."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.caption = ""
        self.rows: list[list[str]] = []
        self._where = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "caption"):
            self._where = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        self._where = ""

    def handle_data(self, data: str) -> None:
        if self._where == "caption":
            self.caption += data
        elif self._where:
            self.rows[-1][-1] += data


def history() -> History:
    return History(
        loss=[2.3026, 1.5, 0.75, 0.5],
        evaluations=[Evaluation(2, 0.55, 0.5), Evaluation(4, 0.8125, 0.75)],
    )


# --- History -----------------------------------------------------------------------------------------


def test_history_repr_summarises() -> None:
    assert repr(history()) == (
        "History(4 steps, loss 2.3026 first and 0.5000 last, 2 evaluations, the last at "
        "step 4: train accuracy 0.8125, test accuracy 0.7500)"
    )
    assert repr(History()) == "History(0 steps, 0 evaluations)"
    long = History(loss=[1.0] * 2400)
    assert len(repr(long)) < 120  # not 2,400 numbers


def test_history_html_is_a_table_of_its_evaluations() -> None:
    table = Table(history()._repr_html_())
    assert table.caption == (
        "History: 4 steps; minibatch loss 2.3026 at the first, 0.5000 at the last"
    )
    assert table.rows == [
        ["step", "train accuracy", "test accuracy"],
        ["2", "0.5500", "0.5000"],
        ["4", "0.8125", "0.7500"],
    ]


def test_history_plot_returns_the_figure_it_draws() -> None:
    figure = History(loss=list(np.linspace(2.3, 0.5, 120)), evaluations=history().evaluations).plot(
        title="run"
    )
    loss_axes, accuracy_axes = figure.axes
    lines = loss_axes.get_lines()
    assert [line.get_label() for line in lines] == ["minibatch loss", "mean of 50 steps"]
    np.testing.assert_allclose(np.asarray(lines[0].get_ydata(), dtype=float), np.linspace(2.3, 0.5, 120))
    assert np.asarray(lines[1].get_ydata()).shape == (120 - 50 + 1,)
    np.testing.assert_array_equal(np.asarray(accuracy_axes.get_lines()[1].get_ydata()), [0.5, 0.75])
    assert figure.get_suptitle() == "run"


@pytest.mark.parametrize(
    ("suffix", "magic"),
    [(".png", b"\x89PNG"), (".jpg", b"\xff\xd8\xff"), (".JPEG", b"\xff\xd8\xff"),
     (".svg", b"<?xml"), (".pdf", b"%PDF")],
)
def test_plots_are_written_in_the_format_their_suffix_names(
    tmp_path: Path, suffix: str, magic: bytes
) -> None:
    path = plot_history(history(), tmp_path / f"run{suffix}")
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"run{suffix}"]


# --- GradcheckReport and Estimate ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_inputs() -> tuple[TwoLayerNet, np.ndarray, np.ndarray]:
    net = TwoLayerNet(input_size=6, hidden_size=4, output_size=3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((5, 6)), np.array([0, 1, 2, 1, 0])
    return net, x, t


def test_gradcheck_report_repr_and_table(report_inputs: tuple[TwoLayerNet, np.ndarray, np.ndarray]) -> None:
    net, x, t = report_inputs
    report = gradcheck(net, x, t, CrossEntropy(), CentralDiff())
    worst = max(c.scaled_error for c in report.checks)
    assert repr(report) == (
        f"GradcheckReport(PASS: 4 arrays, CentralDiff(h=0.0001) vs backprop, worst scaled error "
        f"{worst:.3g} (tolerance 1e-07))"
    )
    table = Table(report._repr_html_())
    assert table.caption == (
        "gradcheck PASS: CentralDiff(h=0.0001) vs backprop (pass if scaled error <= 1e-07)"
    )
    assert table.rows[0][:3] == ["param", "shape", "max|g|"]
    assert [row[0] for row in table.rows[1:]] == ["W1", "b1", "W2", "b2"]
    assert [row[1] for row in table.rows[1:]] == ["6x4", "4", "4x3", "3"]
    assert {row[-1] for row in table.rows[1:]} == {"pass"}
    for row, check in zip(table.rows[1:], report.checks, strict=True):
        assert float(row[4]) == pytest.approx(check.scaled_error, rel=1e-3)


def test_a_failing_fast_report_says_fail(report_inputs: tuple[TwoLayerNet, np.ndarray, np.ndarray]) -> None:
    net, x, t = report_inputs
    wrong = gradcheck(net, x, t, CrossEntropy(), CentralDiff(h=0.5), tolerance=1e-12, fast=True)
    assert repr(wrong).startswith("GradcheckReport(FAIL: 4 arrays")  # the full check ran
    assert "gradcheck FAIL" in Table(wrong._repr_html_()).caption


def test_estimate_table_for_a_point_and_for_an_array() -> None:
    point = RichardsonDiff().estimate(math.exp, 1.0)
    table = Table(point._repr_html_())
    assert table.caption == "Estimate"
    assert table.rows[1:] == [
        ["value", f"{point.value:.17g}"],
        ["error bound", f"{point.error:.3g}"],
        ["evaluations", str(point.evaluations)],
    ]
    fixed = CentralDiff().estimate(math.exp, 1.0)
    assert Table(fixed._repr_html_()).caption == "Estimate (nan: the scheme bounds no error)"
    array = Estimate(value=np.array([[1.0, -3.0]]), error=np.array([[1e-9, 2e-9]]), evaluations=5)
    assert Table(array._repr_html_()).rows[1:] == [
        ["shape", "1x2"], ["max |value|", "3"], ["largest error bound", "2e-09"],
        ["evaluations", "5"],
    ]


# --- progress ---------------------------------------------------------------------------------------


def test_in_a_notebook_auto_is_the_widget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    report = progress_for(True, total=3)
    assert isinstance(report, Notebook)
    report.update(2.5)
    report.note("step 1: ...")
    report.close()


def test_in_a_notebook_without_widgets_lines_go_to_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress, "_has_widgets", lambda: False)
    with progress_for(True, total=1) as report:
        assert isinstance(report, Lines)
        report.update(2.0)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("1/1 step (100%), loss 2.0000")


def test_a_report_whose_stream_fails_falls_silent() -> None:
    stream = io.StringIO()
    report = Lines(total=3, stream=stream, clock=iter(range(0, 100, 10)).__next__)
    stream.close()
    report.update(1.0)  # would raise ValueError on the closed stream
    report.note("evaluation")
    report.close()


def test_a_fit_with_a_closed_stderr_trains(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stderr", closed)
    trainer = Trainer(model=TwoLayerNet(hidden_size=4, seed=0), dataset=MNIST.sample(),
                      eval_every=1)
    assert trainer.fit(2).steps == 2


# --- the command's words -----------------------------------------------------------------------------


def test_one_step_is_one_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--steps", "1", "--hidden-size", "4", "--seed", "0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 step in " in out
    assert re.search(r"(?<![\d.])1 steps", out) is None  # "49.1 steps/s" is a rate, not a count


def test_demo_quiet_prints_only_the_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--steps", "30", "--quiet", "--no-plot"]) == 0
    captured = capsys.readouterr()
    assert re.fullmatch(r"test accuracy: \d+\.\d% of 1000 digits \(train \d+\.\d%\)\n", captured.out)
    assert captured.err == ""


def test_the_seed_walkthrough_keeps_its_columns(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed"]) == 0
    rows = [
        line
        for line in capsys.readouterr().out.splitlines()
        if " minifw " in line and not line.startswith("      (")  # not the remarks below a row
    ]
    assert rows
    columns = {line.index(" minifw ") for line in rows}
    assert columns == {46}
    notes = [line for line in rows if " note " in line]
    assert {line.index(" note ", 46) for line in notes} == {84}  # every note in its column
    assert len(notes) < len(rows)  # the long values put their note on the next line


def _train_actions() -> list[argparse.Action]:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices["train"]._actions)


def test_every_value_flag_says_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    without = {"--config", "--data-root", "--checkpoint", "--resume", "--plot", "--help"}
    for action in _train_actions():
        if action.nargs == 0 or set(action.option_strings) & without:
            continue
        help_text = action.help or ""
        assert "default" in help_text, (action.option_strings, help_text)
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for words in (
        "--steps STEPS training steps: a non-negative integer (default 1000;",
        "--batch-size BATCH_SIZE examples per minibatch: a positive integer (default 100)",
        "--eval-every EVAL_EVERY accuracy on both splits every so many steps, 0: at the end: a "
        "non-negative integer (default 100)",
        "one of 'relu', 'sigmoid', 'tanh' (default relu)",
        "'he' (or 'relu'), 'xavier' (or 'sigmoid') or a positive standard deviation (default he)",
        "one of 'softmax', 'identity' (default softmax)",
        "(default: one chosen at random and printed",
        "--optimizer {sgd,momentum,nesterov,adagrad,rmsprop,adam}",
    ):
        assert words in out, words


def test_print_config_writes_the_example_that_ships_with_minifw(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["train", "--print-config"]) == 0
    text = capsys.readouterr().out
    shipped = Path(minifw.app.__file__ or "").parent / EXAMPLE_CONFIG
    assert text == shipped.read_text(encoding="utf-8")
    config = TrainConfig.from_dict(tomllib.loads(text))
    assert (config.model.type, config.steps, config.data.source) == ("TwoLayerNet", 300, "sample")
