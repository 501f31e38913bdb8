"""The `minifw` command, through its entry function and as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minifw.cli import main


def test_seed_walkthrough_prints_the_seed_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed"]) == 0
    out = capsys.readouterr().out
    for value in (
        "0.510825457099338",
        "2.302584092994546",
        "0.5975",
        "6.00000000000378",
        "7.999999999999119",
        "vanishes against x=5.0",
        "(4000, 784) (4000, 10)",
    ):
        assert value in out


def test_gradcheck_passes_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--hidden-size", "8", "--batch-size", "20"]) == 0
    assert "overall: PASS" in capsys.readouterr().out
    # Forward differences are O(h) accurate: they fail the 1e-7 rule, exit status 1.
    assert (
        main(["gradcheck", "--hidden-size", "8", "--batch-size", "20", "--scheme", "forward"]) == 1
    )
    assert "overall: FAIL" in capsys.readouterr().out


def test_train_checkpoint_resume_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ck, plot = tmp_path / "run.npz", tmp_path / "run.png"
    common = ["--hidden-size", "8", "--batch-size", "50", "--seed", "1", "--no-progress"]
    assert (
        main(["train", "--steps", "30", "--checkpoint", str(ck), "--plot", str(plot), *common]) == 0
    )
    out = capsys.readouterr().out
    assert "30 steps in" in out
    assert "final step 30:" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (
        main(["train", "--steps", "10", "--resume", str(ck), "--checkpoint", str(ck), *common]) == 0
    )
    out = capsys.readouterr().out
    assert "resumed from" in out
    assert "now at step 40" in out
    with np.load(ck, allow_pickle=False) as data:
        assert int(data["step"]) == 40


def test_train_with_a_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "train.toml"
    config.write_text(
        "[trainer]\nsteps = 5\nprogress = false\n[model]\nhidden_size = 6\n"
        "[sampler]\ntype = 'ShuffleSampler'\nbatch_size = 25\n",
        encoding="utf-8",
    )
    assert main(["train", "--config", str(config), "--steps", "7"]) == 0
    out = capsys.readouterr().out
    assert "ShuffleSampler(batch_size=25" in out
    assert "7 steps in" in out


def test_analytic_training_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--steps", "3", "--analytic", "--hidden-size", "5", "--no-progress"]) == 0
    assert "gradient: Backprop()" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["train", "--config", "missing.toml"], "configuration file missing.toml does not exist"),
        (["train", "--data", "no/such/folder", "--steps", "1"], "no/such/folder"),
        (["train", "--learning-rate", "-1", "--steps", "1"], "learning_rate"),
        (["train", "--resume", "missing.npz", "--steps", "1"], "missing.npz does not exist"),
    ],
)
def test_errors_are_one_line_without_traceback(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err
    assert err.startswith("minifw train: error: ")


def test_bad_config_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[sampler]\nbatchsize = 10\n", encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: [sampler] unknown key 'batchsize'" in err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "gradcheck" in capsys.readouterr().out


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "minifw", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_short_run_as_a_subprocess(tmp_path: Path) -> None:
    result = run_module("demo", "--steps", "20", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "1. minibatch of 100 digits" in out
    assert "overall: PASS" in out
    assert "test accuracy" in out
    assert (tmp_path / "minifw-demo.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_the_full_demo_reaches_85_percent(tmp_path: Path) -> None:
    # The README's main job, as users run it: 1,200 steps with numerical gradients.
    result = run_module("demo", "--no-progress", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "test accuracy:" in x)
    accuracy = float(line.split("test accuracy:")[1].split("%")[0]) / 100
    assert accuracy >= 0.85, line
    assert "test accuracy: 87.2% of 1000 digits" in result.stdout  # the README's figure


def test_a_bad_subcommand_exits_2(tmp_path: Path) -> None:
    result = run_module("fly", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_sampler_and_loss_flags(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["train", "--steps", "2", "--hidden-size", "4", "--no-progress", "--seed", "0"]
    assert main([*common, "--sampler", "shuffle", "--drop-last", "--eps", "1e-6"]) == 0
    out = capsys.readouterr().out
    assert "ShuffleSampler(batch_size=100, seed=0, drop_last=True" in out
    assert "eps=1e-06" in out
    assert main([*common, "--without-replacement", "--blas-threads", "0"]) == 0
    assert "replace=False" in capsys.readouterr().out
    assert main([*common, "--drop-last"]) == 2
    assert "[sampler] unknown key 'drop_last'" in capsys.readouterr().err
