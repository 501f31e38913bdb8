"""Catalogue of hostile command lines, each run as users run it: ``python -m minifw ...``.

Every case runs in a fresh process, in an empty folder holding only what the case prepares.
Each must end with exit status 2 and exactly one line on stderr that names the input, with no
traceback, no output files and nothing else written, and no training started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import pytest

from minifw import RandomChoiceSampler, Trainer, TwoLayerNet
from minifw.data import MNIST


class Case(NamedTuple):
    """A command line, what it needs in its folder, and what its error line must contain."""

    argv: tuple[str, ...]
    fragments: tuple[str, ...]
    files: Mapping[str, str | bytes] = MappingProxyType({})


def run(case: Case, folder: Path) -> subprocess.CompletedProcess[str]:
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(folder)}  # the folder's modules are importable
    return subprocess.run(
        [sys.executable, "-m", "minifw", *case.argv],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
        if "__pycache__" not in p.parts
    }


def check_refused(case: Case, folder: Path) -> None:
    before = snapshot(folder)
    result = run(case, folder)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    line = lines[0]
    assert "Traceback" not in line
    assert line.startswith("minifw")
    for fragment in case.fragments:
        assert fragment in line, line
    assert "steps in" not in result.stdout  # no training ran
    prepared = set(case.files) | {str(Path(n).parent) for n in case.files if "/" in n}
    written = {k: v for k, v in snapshot(folder).items() if k not in before and k not in prepared}
    assert written == {}, f"written: {sorted(written)}"


# --- configuration files ---------------------------------------------------------------------------

MODULES: dict[str, str | bytes] = {
    "raises_at_import.py": "raise RuntimeError('no GPU found')\n",
    "exits_at_import.py": "import sys\nsys.exit('bye')\n",
    "exits_zero.py": "raise SystemExit(0)\n",
    "bad_syntax.py": "def broken(:\n",
    "imports_missing.py": "import no_such_package_xyz\n",
    "not_a_loss.py": "class Hinge:\n    pass\n",
    "abstract_loss.py": "from minifw import Loss\nclass Half(Loss):\n    pass\n",
    "writes_at_import.py": "open('side_effect.txt', 'w').write('x')\nraise ImportError('half')\n",
}


def config_case(toml: str, *fragments: str, extra: tuple[str, ...] = ()) -> Case:
    files: dict[str, str | bytes] = {**MODULES, "run.toml": toml}
    return Case(("train", "--config", "run.toml", *extra), ("run.toml", *fragments), files)


CONFIGS = {
    "empty module": config_case("[loss]\ntype = ':X'\n", "[loss] type", "':X'"),
    "dots": config_case("[loss]\ntype = '..:X'\n", "[loss] type", "'..:X'"),
    "space": config_case("[model]\ntype = 'a b:C'\n", "[model] type", "'a b:C'"),
    "raises at import": config_case(
        "[loss]\ntype = 'raises_at_import:X'\n", "[loss] type", "RuntimeError: no GPU found"
    ),
    "sys.exit at import": config_case(
        "[loss]\ntype = 'exits_at_import:X'\n", "[loss] type", "SystemExit: bye"
    ),
    "SystemExit(0) at import": config_case(
        "[sampler]\ntype = 'exits_zero:X'\n", "[sampler] type", "SystemExit: 0"
    ),
    "syntax error": config_case(
        "[loss]\ntype = 'bad_syntax:X'\n", "[loss] type", "'bad_syntax'", "SyntaxError"
    ),
    "missing dependency": config_case(
        "[loss]\ntype = 'imports_missing:X'\n", "[loss] type", "no_such_package_xyz"
    ),
    "missing module": config_case("[loss]\ntype = 'nope.nope:X'\n", "[loss] type", "'nope.nope'"),
    "not a subclass": config_case(
        "[loss]\ntype = 'not_a_loss:Hinge'\n", "[loss] type", "is not a Loss subclass"
    ),
    "abstract": config_case("[loss]\ntype = 'abstract_loss:Half'\n", "[loss] type", "is abstract"),
    "unknown built-in": config_case(
        "[optimizer]\ntype = 'AdamW'\n", "[optimizer] unknown type 'AdamW'"
    ),
    "unknown key": config_case("[sampler]\nbatchsize = 10\n", "[sampler] unknown key 'batchsize'"),
    "unknown section": config_case("[optimiser]\n", "unknown section [optimiser]"),
    "wrong type": config_case("[trainer]\nsteps = 'many'\n", "[trainer] steps must be"),
    "huge seed": config_case("[trainer]\nseed = 1e300\n", "[trainer] seed must be"),
    "huge batch": config_case(
        "[sampler]\nbatch_size = 9999999999999\n", "batch_size must be at most"
    ),
    "huge layer": config_case("[model]\nhidden_size = 1000000\n", "[model]", "parameters"),
    "both rates": config_case(
        "[trainer]\nlearning_rate = 0.1\n[optimizer]\ntype = 'Adam'\n",
        "[trainer] learning_rate and [optimizer]",
    ),
    "not TOML": config_case("[trainer\nsteps = 3\n", "not valid TOML"),
    "not UTF-8": Case(("train", "--config", "run.toml"), ("run.toml",), {"run.toml": b"\xff\xfe["}),
    "missing file": Case(("train", "--config", "none.toml"), ("none.toml", "does not exist")),
    "a folder": Case(("train", "--config", "."), ("cannot read configuration file",)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_hostile_configuration_files(name: str, tmp_path: Path) -> None:
    check_refused(CONFIGS[name], tmp_path)


def test_a_module_that_writes_at_import_is_reported(tmp_path: Path) -> None:
    # Importing a user's module runs its code: its own files are its business, the error is ours.
    case = config_case("[loss]\ntype = 'writes_at_import:X'\n", "ImportError: half")
    result = run(case, tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "[loss] type 'writes_at_import:X': cannot import module" in result.stderr


# --- flags --------------------------------------------------------------------------------------------

FLAGS = {
    "negative steps": (("train", "--steps", "-1"), ("argument --steps", "'-1'")),
    "fractional steps": (("demo", "--steps", "2.5"), ("argument --steps", "'2.5'")),
    "negative seed": (("gradcheck", "--seed", "-1"), ("argument --seed", "'-1'")),
    "huge seed": (("train", "--seed", str(2**130)), ("argument --seed", str(2**130))),
    "huge blas threads": (
        ("train", "--blas-threads", "99999999999999999999"),
        ("argument --blas-threads", "'99999999999999999999'"),
    ),
    "huge hidden size": (("train", "--hidden-size", "1000000000"), ("--hidden-size", "1000000000")),
    "too many parameters": (
        ("train", "--hidden-size", "1000000", "--steps", "1"),
        ("[model]", "1000000", "parameters"),
    ),
    "too many parameters, multi-layer": (
        ("gradcheck", "--hidden-sizes", "100000,100000"),
        ("[model]", "(784, 100000, 100000, 10)", "parameters"),
    ),
    "huge batch": (("train", "--batch-size", str(2**70)), ("argument --batch-size", "at most")),
    "zero batch": (("gradcheck", "--batch-size", "0"), ("argument --batch-size", "'0'")),
    "nan learning rate": (("train", "--learning-rate", "nan"), ("--learning-rate", "'nan'")),
    "infinite step": (("gradcheck", "--h", "1e400"), ("argument --h", "'1e400'")),
    "zero tolerance": (("gradcheck", "--tolerance", "0"), ("argument --tolerance", "'0'")),
    "text as a number": (("train", "--eps", "small"), ("argument --eps", "'small'")),
    "bad hidden sizes": (("train", "--hidden-sizes", "100,,100"), ("--hidden-sizes", "'100,,100'")),
    "zero hidden size": (("train", "--hidden-sizes", "100,0"), ("--hidden-sizes", "hidden_sizes")),
    "unknown activation": (("gradcheck", "--activation", "gelu"), ("--activation", "'gelu'")),
    "two models' flags": (
        ("train", "--hidden-size", "5", "--hidden-sizes", "5,5"),
        ("--hidden-size", "--hidden-sizes"),
    ),
    "flag of another model": (
        ("train", "--model", "two-layer", "--activation", "tanh"),
        ("--activation", "two-layer"),
    ),
    "unknown optimizer": (("train", "--optimizer", "adamw"), ("--optimizer", "'adamw'")),
    "backprop is not a scheme to check": (("gradcheck", "--scheme", "backprop"), ("--scheme",)),
    "unknown flag": (("train", "--stpes", "3"), ("--stpes",)),
    "missing value": (("train", "--steps"), ("--steps",)),
    "unknown command": (("fly",), ("'fly'",)),
    "sampler option of another sampler": (
        ("train", "--drop-last", "--steps", "1"),
        ("[sampler] unknown key 'drop_last'",),
    ),
    "data folder missing": (
        ("train", "--data", "no/such/folder", "--steps", "1"),
        ("no/such/folder",),
    ),
}


@pytest.mark.parametrize("name", list(FLAGS))
def test_bad_flags(name: str, tmp_path: Path) -> None:
    argv, fragments = FLAGS[name]
    check_refused(Case(argv, fragments), tmp_path)


# --- outputs that cannot be written: refused before training -------------------------------------

OUTPUTS = {
    "checkpoint under a file": Case(
        ("train", "--steps", "50", "--checkpoint", "a-file/run.npz"),
        ("--checkpoint a-file/run.npz", "not a folder"),
        {"a-file": "x"},
    ),
    "checkpoint is a folder": Case(
        ("train", "--steps", "50", "--checkpoint", "folder"),
        ("--checkpoint folder", "it is a folder"),
        {"folder/keep": "x"},
    ),
    "checkpoint in a config file": Case(
        ("train", "--config", "run.toml"),
        ("--checkpoint a-file/run.npz", "not a folder"),
        {"a-file": "x", "run.toml": "[trainer]\nsteps = 50\ncheckpoint = 'a-file/run.npz'\n"},
    ),
    "plot under /proc": Case(
        ("train", "--steps", "50", "--plot", "/proc/minifw/no/plot.png"),
        ("--plot /proc/minifw/no/plot.png",),
    ),
    "plot is a folder": Case(
        ("train", "--steps", "50", "--plot", "folder"),
        ("--plot folder", "it is a folder"),
        {"folder/keep": "x"},
    ),
    "demo plot under a file": Case(
        ("demo", "--steps", "50", "--plot", "a-file/demo.png"),
        ("--plot a-file/demo.png",),
        {"a-file": "x"},
    ),
}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_unwritable_outputs_are_refused_before_training(name: str, tmp_path: Path) -> None:
    check_refused(OUTPUTS[name], tmp_path)


# --- checkpoints to resume from ------------------------------------------------------------------


def _checkpoint(folder: Path, hidden_size: int = 5) -> bytes:
    trainer = Trainer(
        model=TwoLayerNet(hidden_size=hidden_size, seed=0),
        dataset=MNIST.sample(),
        sampler=RandomChoiceSampler(10, seed=0),
        progress=False,
    )
    trainer.fit(1)
    path = trainer.save_checkpoint(folder / "made.npz")
    data = path.read_bytes()
    path.unlink()
    return data


def _flip(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    return bytes(damaged)


RESUMES: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda good: good[: len(good) // 2],
    "a flipped byte": _flip,
    "empty": lambda good: b"",
    "not a zip file": lambda good: b"hello, this is not a checkpoint\n" * 10,
    "a plain .npy": lambda good: b"\x93NUMPY" + good[6:200],
}


@pytest.mark.parametrize("name", [*RESUMES, "another model's", "missing"])
def test_resume_from_a_bad_checkpoint(name: str, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {}
    if name == "another model's":
        files["ck.npz"] = _checkpoint(tmp_path, hidden_size=6)
    elif name != "missing":
        files["ck.npz"] = RESUMES[name](_checkpoint(tmp_path))
    argv = ("train", "--hidden-size", "5", "--steps", "3", "--resume", "ck.npz", "--quiet")
    check_refused(Case(argv, ("ck.npz",), files), tmp_path)


def test_a_good_checkpoint_resumes(tmp_path: Path) -> None:
    # The control for the cases above: the same command with an intact file trains.
    case = Case(
        ("train", "--hidden-size", "5", "--steps", "3", "--resume", "ck.npz", "--quiet"),
        (),
        {"ck.npz": _checkpoint(tmp_path)},
    )
    result = run(case, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resumed from ck.npz at step 1" in result.stdout
    assert "now at step 4" in result.stdout
    assert np.load(tmp_path / "ck.npz")["step"] == 1  # not saved over without --checkpoint
