"""Progress output: a bar on a terminal, plain lines in files and pipes, nothing when quiet."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minifw import MNIST, Backprop, RandomChoiceSampler, Trainer, TwoLayerNet
from minifw.errors import ConfigError, ValidationError
from minifw.train.progress import Bar, Lines, Quiet, progress_for

FIT = textwrap.dedent(
    """
    import sys, time
    from minifw import MNIST, Backprop, RandomChoiceSampler, Trainer, TwoLayerNet
    trainer = Trainer(
        model=TwoLayerNet(hidden_size=10, seed=0), dataset=MNIST.sample(),
        sampler=RandomChoiceSampler(50, seed=0), differentiator=Backprop(),
        eval_every=100, progress=True,
    )
    start = time.monotonic()
    trainer.fit(400)
    print(time.monotonic() - start)
    """
)


def check_plain_lines(text: str, elapsed: float) -> None:
    assert "\r" not in text
    lines = text.splitlines()
    evaluations = [line for line in lines if line.startswith("step ")]
    progress = [line for line in lines if " steps (" in line]
    assert len(evaluations) == 4  # steps 100, 200, 300, 400
    assert lines == [line for line in lines if line in evaluations or line in progress]
    # One line per 5 s at most, and the last one.
    assert 1 <= len(progress) <= int(elapsed / 5.0) + 1
    assert progress[-1].startswith("400/400 steps (100%), loss ")


def test_a_fit_writes_plain_lines_to_a_file(tmp_path: Path) -> None:
    log = tmp_path / "err.txt"
    with log.open("w") as stderr:
        done = subprocess.run(
            [sys.executable, "-c", FIT],
            stderr=stderr,
            capture_output=False,
            stdout=subprocess.PIPE,
            text=True,
            check=True,
            timeout=300,
        )
    check_plain_lines(log.read_text(), float(done.stdout))


def test_a_fit_writes_plain_lines_to_a_pipe() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FIT], capture_output=True, text=True, check=True, timeout=300
    )
    check_plain_lines(done.stderr, float(done.stdout))


@pytest.fixture(scope="module")
def sample() -> MNIST:
    return MNIST.sample()


def trainer_with(data: MNIST, progress: bool) -> Trainer:
    return Trainer(
        model=TwoLayerNet(hidden_size=5, seed=0),
        dataset=data,
        sampler=RandomChoiceSampler(20, seed=0),
        differentiator=Backprop(),
        eval_every=3,
        progress=progress,
    )


def test_quiet_writes_nothing(sample: MNIST, capsys: pytest.CaptureFixture[str]) -> None:
    trainer_with(sample, False).fit(6)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_auto_writes_lines_when_stderr_is_not_a_terminal(
    sample: MNIST, capsys: pytest.CaptureFixture[str]
) -> None:
    trainer_with(sample, True).fit(6)
    err = capsys.readouterr().err
    assert "\r" not in err
    assert err.splitlines()[0] == "step 3: " + err.splitlines()[0].split(": ", 1)[1]
    lines = err.splitlines()
    assert lines[-2].startswith("6/6 steps (100%), loss ")
    assert lines[-1].startswith("step 6: train accuracy ")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_draws_a_bar_on_a_terminal(sample: MNIST, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    trainer_with(sample, True).fit(6)
    err = terminal.getvalue()
    assert "\r" in err
    assert "6/6" in err
    assert "step 3: train accuracy" in err


def test_auto_chooses_by_the_stream() -> None:
    assert isinstance(progress_for(True, 5, stream=Terminal()), Bar)
    assert isinstance(progress_for("auto", 5, stream=Terminal()), Bar)
    assert isinstance(progress_for(True, 5, stream=io.StringIO()), Lines)
    assert isinstance(progress_for("lines", 5, stream=Terminal()), Lines)
    assert isinstance(progress_for("bar", 5, stream=io.StringIO()), Bar)
    assert isinstance(progress_for(False, 5, stream=Terminal()), Quiet)


def test_lines_every_interval_and_at_the_end() -> None:
    out = io.StringIO()
    clock = itertools.count(0.0, 1.5).__next__  # each step takes 1.5 s
    with Lines(20, stream=out, interval=5.0, clock=clock) as progress:
        for k in range(20):
            progress.update(2.0 - k / 100)
            if k == 9:
                progress.note("step 10: halfway")
    lines = out.getvalue().splitlines()
    # Lines at 6 s (step 4), 12 s (step 8), 18 s (step 12), 24 s (step 16), 30 s (step 20).
    assert lines == [
        "4/20 steps (20%), loss 1.9700, 0.667 steps/s, 6 s elapsed, about 24 s left",
        "8/20 steps (40%), loss 1.9300, 0.667 steps/s, 12 s elapsed, about 18 s left",
        "step 10: halfway",
        "12/20 steps (60%), loss 1.8900, 0.667 steps/s, 18 s elapsed, about 12 s left",
        "16/20 steps (80%), loss 1.8500, 0.667 steps/s, 24 s elapsed, about 6 s left",
        "20/20 steps (100%), loss 1.8100, 0.667 steps/s, 30 s elapsed",
    ]


def test_a_run_cut_short_gets_its_last_line() -> None:
    out = io.StringIO()
    with Lines(10, stream=out, clock=itertools.count(0.0, 1.0).__next__) as progress:
        progress.update(2.3)
        progress.update(2.2)
    assert out.getvalue() == (
        "2/10 steps (20%), loss 2.2000, 0.667 steps/s, 3 s elapsed, about 12 s left\n"
    )


def test_no_steps_no_lines() -> None:
    out = io.StringIO()
    with Lines(0, stream=out):
        pass
    assert out.getvalue() == ""


def test_a_bad_mode_is_refused(sample: MNIST) -> None:
    with pytest.raises(ConfigError, match="Trainer field progress must be True or False"):
        trainer_with(sample, "yes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="progress must be one of True, False, 'auto'"):
        progress_for("loud", 3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="interval must be a positive finite float"):
        Lines(3, interval=0.0)
    with pytest.raises(ValidationError, match="total must be a non-negative integer"):
        Lines(-1)
