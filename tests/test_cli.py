"""The `minifw` command, through its entry function and as a subprocess."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest
from _data_helpers import listing, local_server, snapshot, write_folder

from minifw import Differentiator, MultiLayerNet, Trainer, TwoLayerNet
from minifw._validation import keyword_fields
from minifw.app.cli import _parser, main
from minifw.app.config import TrainConfig
from minifw.app.flags import train_config
from minifw.app.registry import REGISTRY
from minifw.data import mnist
from minifw.errors import ConfigError

QUIET = ["--no-progress"]


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


# --- gradcheck ------------------------------------------------------------------------------------


def test_gradcheck_passes_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--hidden-size", "8", "--batch-size", "20"]) == 0
    out = capsys.readouterr().out
    assert (
        "TwoLayerNet(input_size=784, hidden_size=8, output_size=10, weight_init_std=0.01, seed=0)"
        in out
    )
    assert "on 20 digits of the bundled sample, CrossEntropy(" in out
    assert "overall: PASS" in out
    # Forward differences are O(h) accurate: they fail the 1e-7 rule, exit status 1.
    assert (
        main(["gradcheck", "--hidden-size", "8", "--batch-size", "20", "--scheme", "forward"]) == 1
    )
    assert "overall: FAIL" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "model"),
    [
        (
            ["--hidden-sizes", "8,6", "--activation", "tanh"],
            "hidden_sizes=(8, 6), output_size=10, activation='tanh'",
        ),
        (
            ["--model", "multi-layer", "--hidden-sizes", "5"],
            "hidden_sizes=(5,), output_size=10, activation='relu'",
        ),
        (
            ["--activation", "sigmoid", "--hidden-sizes", "6", "--weight-init", "xavier"],
            "hidden_sizes=(6,), output_size=10, activation='sigmoid', weight_init='xavier'",
        ),
    ],
)
def test_gradcheck_any_built_in_network(
    flags: list[str], model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gradcheck", "--batch-size", "10", *flags]) == 0
    out = capsys.readouterr().out
    assert f"MultiLayerNet(input_size=784, {model}" in out
    assert "overall: PASS" in out


def test_gradcheck_with_mean_squared_and_a_step(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gradcheck", "--hidden-size", "4", "--batch-size", "5", "--loss", "mean-squared"]
    assert main([*argv, "--h", "1e-5", "--tolerance", "1e-5"]) == 0
    assert "MeanSquared(" in capsys.readouterr().out


# --- train ----------------------------------------------------------------------------------------


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
        "[trainer]\nsteps = 5\nprogress = false\nseed = 4\n[model]\nhidden_size = 6\nseed = 9\n"
        "[sampler]\ntype = 'ShuffleSampler'\nbatch_size = 25\n",
        encoding="utf-8",
    )
    assert main(["train", "--config", str(config), "--steps", "7"]) == 0
    out = capsys.readouterr().out
    assert (
        "TwoLayerNet(input_size=784, hidden_size=6, output_size=10, weight_init_std=0.01, seed=9)"
        in out
    )
    assert "ShuffleSampler(batch_size=25, seed=4" in out
    assert "7 steps in" in out
    # --seed reaches every part, also those the file seeds itself.
    assert main(["train", "--config", str(config), "--seed", "2", "--sampler", "choice"]) == 0
    out = capsys.readouterr().out
    assert "hidden_size=6, output_size=10, weight_init_std=0.01, seed=2)" in out
    assert "RandomChoiceSampler(batch_size=25, seed=2, replace=True)" in out  # batch size kept


def test_analytic_training_flag(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in (["--analytic"], ["--scheme", "backprop"]):
        assert main(["train", "--steps", "3", *flag, "--hidden-size", "5", *QUIET]) == 0
        assert "gradient: Backprop()" in capsys.readouterr().out


def test_optimizer_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["train", "--steps", "3", "--hidden-size", "5", "--analytic", *QUIET]
    assert main([*common, "--optimizer", "adam", "--learning-rate", "0.001"]) == 0
    out = capsys.readouterr().out
    assert "optimizer: Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-07)" in out
    assert main([*common, "--learning-rate", "0.3"]) == 0
    assert "optimizer: SGD(learning_rate=0.3)" in capsys.readouterr().out
    # The file's SGD rate gives way to --optimizer; --learning-rate goes to the file's optimizer.
    config = tmp_path / "sgd.toml"
    config.write_text("[trainer]\nlearning_rate = 0.5\n", encoding="utf-8")
    assert main([*common, "--config", str(config), "--optimizer", "momentum"]) == 0
    assert "optimizer: Momentum(learning_rate=0.01, momentum=0.9)" in capsys.readouterr().out
    config.write_text("[optimizer]\ntype = 'RMSprop'\ndecay_rate = 0.9\n", encoding="utf-8")
    assert main([*common, "--config", str(config), "--learning-rate", "0.002"]) == 0
    assert "RMSprop(learning_rate=0.002, decay_rate=0.9" in capsys.readouterr().out


def test_workers_flag(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--steps", "2", "--hidden-size", "4", "--workers", "2", "--seed", "0"]
    assert main([*argv, *QUIET]) == 0
    parallel = capsys.readouterr().out
    assert main([*argv[:-4], "--seed", "0", *QUIET]) == 0
    serial = capsys.readouterr().out
    # The same numbers with two worker processes as without.
    assert parallel.splitlines()[-1] == serial.splitlines()[-1]


def test_multi_layer_flags(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--steps", "2", "--hidden-sizes", "20,10", "--activation", "tanh"]
    assert main([*argv, "--weight-init", "0.05", "--seed", "3", *QUIET]) == 0
    out = capsys.readouterr().out
    expected = MultiLayerNet(hidden_sizes=(20, 10), activation="tanh", weight_init=0.05, seed=3)
    assert f"model: {expected!r}" in out
    assert main(["train", "--steps", "2", "--hidden-size", "7", *QUIET]) == 0
    out = capsys.readouterr().out
    seed = int(out.split("seed: ")[1].split()[0])  # none given: one chosen, and printed
    assert f"model: {TwoLayerNet(hidden_size=7, seed=seed)!r}" in out


def test_a_model_of_your_own_keeps_the_flags_it_takes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my_models.py").write_text(
        "import attrs, numpy as np\n"
        "from typing import final\n"
        "from minifw import Model\n"
        "@final\n"
        "@attrs.define(eq=False)\n"
        "class Wide(Model):\n"
        "    hidden_size: int = 3\n"
        "    def __attrs_post_init__(self):\n"
        "        self.params = {'W': np.zeros((784, 10))}\n"
        "    def predict(self, x):\n"
        "        return np.full((len(x), 10), 0.1)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "own.toml"
    config.write_text("[model]\ntype = 'my_models:Wide'\n", encoding="utf-8")
    argv = ["train", "--config", str(config), "--steps", "0", *QUIET]
    assert main([*argv, "--hidden-size", "7"]) == 0
    assert "model: Wide(hidden_size=7)" in capsys.readouterr().out
    # A flag the class does not take chooses the built-in model that does.
    assert main([*argv, "--hidden-sizes", "7"]) == 0
    assert "model: MultiLayerNet(input_size=784, hidden_sizes=(7,)" in capsys.readouterr().out


def test_sampler_and_loss_flags(capsys: pytest.CaptureFixture[str]) -> None:
    common = ["train", "--steps", "2", "--hidden-size", "4", "--no-progress", "--seed", "0"]
    assert main([*common, "--sampler", "shuffle", "--drop-last", "--eps", "1e-6"]) == 0
    out = capsys.readouterr().out
    assert "ShuffleSampler(batch_size=100, seed=0, drop_last=True" in out
    assert "eps=1e-06" in out
    assert main([*common, "--without-replacement", "--blas-threads", "0"]) == 0
    assert "replace=False" in capsys.readouterr().out
    assert main([*common, "--drop-last"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "minifw train: error: the flags: [sampler] unknown key 'drop_last'; RandomChoiceSampler "
        "takes: batch_size, replace, seed\n"
    )


@pytest.mark.parametrize("flag", ["--quiet", "--no-progress"])
def test_quiet_training_writes_nothing_on_stderr(tmp_path: Path, flag: str) -> None:
    result = run_module("train", "--steps", "3", "--hidden-size", "4", flag, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "3 steps in" in result.stdout


def test_progress_on_a_pipe_is_plain_lines(tmp_path: Path) -> None:
    result = run_module("train", "--steps", "3", "--hidden-size", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr
    assert "3/3 steps (100%)" in result.stderr


# --- --data: the sample, a data set by name, or a folder --------------------------------------------

CONFIG_NAMING_FASHION = "[data]\nname = 'FashionMNIST'\nsource = 'download'\n"


@pytest.mark.parametrize(
    ("flags", "data"),
    [
        ([], {"name": "FashionMNIST", "source": "download", "path": ""}),
        (["--data", "sample"], {"name": "FashionMNIST", "source": "sample", "path": ""}),
        (["--data", "mnist"], {"name": "MNIST", "source": "download", "path": ""}),
        (["--data", "fashion-mnist"], {"name": "FashionMNIST", "source": "download", "path": ""}),
        (["--data", "my/folder"], {"name": "FashionMNIST", "source": "directory", "path": "my/folder"}),
        (
            ["--data", "minifw.data:MNIST"],
            {"name": "minifw.data:MNIST", "source": "download", "path": ""},
        ),
    ],
)
def test_the_data_flag_over_a_file(tmp_path: Path, flags: list[str], data: dict[str, str]) -> None:
    config = tmp_path / "run.toml"
    config.write_text(CONFIG_NAMING_FASHION, encoding="utf-8")
    args = _parser().parse_args(["train", "--config", str(config), *flags])
    chosen = train_config(args).data
    assert {"name": chosen.name, "source": chosen.source, "path": chosen.path} == data


def test_train_on_fashion_mnist_from_the_cache(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = write_folder(tmp_path / "cache" / "fashion-mnist")
    before = snapshot(cache)
    argv = ["train", "--data", "fashion-mnist", "--data-root", str(tmp_path / "cache")]
    assert main([*argv, "--steps", "3", "--hidden-size", "4", "--quiet"]) == 0
    assert "3 steps in" in capsys.readouterr().out
    assert snapshot(cache) == before  # read as it was: nothing downloaded, nothing written


def test_train_on_a_folder_of_the_data_set_the_file_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_folder(tmp_path / "clothes")
    config = tmp_path / "run.toml"
    config.write_text(CONFIG_NAMING_FASHION + "[trainer]\nsteps = 2\n", encoding="utf-8")
    assert main(["train", "--config", str(config), "--data", str(folder), "--quiet"]) == 0
    assert "2 steps in" in capsys.readouterr().out


def test_fashion_mnist_files_nowhere_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with local_server() as server:  # 404 for every file: the only network a test may use
        spec = attrs.evolve(mnist.FASHION_MNIST_SPEC, mirrors=(server.mirror("fashion"),))
        monkeypatch.setattr(mnist, "FASHION_MNIST_SPEC", spec)
        argv = ["train", "--data", "fashion-mnist", "--data-root", str(tmp_path), "--steps", "1"]
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        "minifw train: error: could not download Fashion-MNIST file train-images-idx3-ubyte.gz "
        f"into {tmp_path / 'fashion-mnist'}; every mirror failed"
    )
    assert "HTTP error 404" in err
    assert "place the files" in err
    assert server.requests == ["/fashion/train-images-idx3-ubyte.gz"]
    assert listing(tmp_path / "fashion-mnist") == []


# --- failures: one line, exit status 2 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["train", "--steps", "-1"],
            "minifw: error: argument --steps: must be a non-negative integer, got '-1' "
            "(see minifw train --help)",
        ),
        (
            ["train", "--learning-rate", "-1"],
            "minifw: error: argument --learning-rate: must be a positive finite float, got '-1' "
            "(see minifw train --help)",
        ),
        (
            ["gradcheck", "--seed", "-1"],
            "minifw: error: argument --seed: must be an integer in 0..2**128-1, got '-1' "
            "(see minifw gradcheck --help)",
        ),
        (
            ["train", "--blas-threads", "99999999999999999999"],
            "minifw: error: argument --blas-threads: must be at most 1024, got "
            "'99999999999999999999' (see minifw train --help)",
        ),
        (
            ["train", "--hidden-size", "1000000000"],
            "minifw: error: argument --hidden-size: must be at most 2**20 = 1048576, "
            "got '1000000000' (see minifw train --help)",
        ),
        (
            ["train", "--config", "missing.toml"],
            "minifw train: error: configuration file missing.toml does not exist",
        ),
        (
            ["train", "--resume", "missing.npz", "--steps", "1"],
            "minifw train: error: checkpoint missing.npz does not exist",
        ),
    ],
)
def test_errors_are_one_line(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err == line + "\n"
    assert captured.out == ""


def test_bad_config_key_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[sampler]\nbatchsize = 10\n", encoding="utf-8")
    assert main(["train", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"minifw train: error: {config}: [sampler] unknown key 'batchsize'")


@pytest.mark.parametrize(
    ("flag", "value", "section", "key"),
    [
        ("--batch-size", "0", "sampler", "batch_size"),
        ("--eps", "-1", "loss", "eps"),
        ("--h", "inf", "differentiator", "h"),
        ("--eval-every", "-3", "trainer", "eval_every"),
        ("--learning-rate", "0", "trainer", "learning_rate"),
        ("--blas-threads", "2000", "trainer", "blas_threads"),
        ("--steps", "1.5", "trainer", "steps"),
    ],
)
def test_a_flag_and_a_file_refuse_in_the_same_words(
    flag: str, value: str, section: str, key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", flag, value]) == 2
    err = capsys.readouterr().err
    from_flag = err.split(f"argument {flag}: ")[1].split(f", got '{value}'")[0]
    number = float(value) if "." in value or value == "inf" else int(value)
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({section: {key: number}}, source="f")
    assert str(info.value).startswith(f"f: [{section}] {key} {from_flag}, got {key}=")


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "gradcheck" in capsys.readouterr().out
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert f"--optimizer {{{','.join(REGISTRY['optimizer'].cli_names)}}}" in out
    assert "--optimizer {sgd,momentum,nesterov,adagrad,rmsprop,adam" in out
    assert "--hidden-sizes N,N,..." in out


# --- the choices are the registry's ----------------------------------------------------------------


def _actions(command: str) -> dict[str, argparse.Action]:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {s: a for a in sub.choices[command]._actions for s in a.option_strings}


@pytest.mark.parametrize(
    ("command", "flag", "kind"),
    [
        ("train", "--model", "model"),
        ("train", "--sampler", "sampler"),
        ("train", "--loss", "loss"),
        ("train", "--scheme", "differentiator"),
        ("train", "--optimizer", "optimizer"),
        ("gradcheck", "--model", "model"),
        ("gradcheck", "--loss", "loss"),
    ],
)
def test_the_choices_are_the_registrys(command: str, flag: str, kind: str) -> None:
    assert tuple(_actions(command)[flag].choices or ()) == REGISTRY[kind].cli_names


def test_gradcheck_offers_the_numerical_schemes() -> None:
    numerical = tuple(
        p.cli for p in REGISTRY["differentiator"].parts if issubclass(p.cls, Differentiator)
    )
    assert tuple(_actions("gradcheck")["--scheme"].choices or ()) == numerical
    assert "backprop" not in numerical


def test_trainer_settings_have_flags() -> None:
    flags = _actions("train")
    settings = set(keyword_fields(Trainer)) - {"model", "dataset", *REGISTRY}
    for key in settings - {"progress"}:  # progress: --no-progress (and --quiet)
        assert "--" + key.replace("_", "-") in flags
    assert {"--quiet", "--no-progress"} <= set(flags)


# --- as users run it -------------------------------------------------------------------------------


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
def test_the_full_demo_reaches_90_percent(tmp_path: Path) -> None:
    # The README's main job, as users run it: 2,400 steps with numerical gradients.
    result = run_module("demo", "--no-progress", "--no-plot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "test accuracy:" in x)
    accuracy = float(line.split("test accuracy:")[1].split("%")[0]) / 100
    assert accuracy >= 0.90, line
    assert "test accuracy: 90.3% of 1000 digits" in result.stdout  # the README's figure
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "(90.3% with the default seed)" in readme


def test_a_bad_subcommand_exits_2(tmp_path: Path) -> None:
    result = run_module("fly", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "minifw: error: argument COMMAND: invalid choice: 'fly' (choose from 'demo', 'train', "
        "'gradcheck', 'seed') (see minifw --help)\n"
    )
