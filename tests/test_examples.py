"""Every script in examples/ runs as it is, offline, in a fresh working directory.

Each test starts the script in a subprocess with this interpreter, in a temporary directory, with
warnings as errors, matplotlib's Agg backend, an empty minifw data cache and HTTP(S) proxies that
point nowhere (so an accidental download fails instead of reaching the network), and checks what
the script prints or writes. The figures in docs/img must be what examples/figures.py draws now.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
DOC_IMAGES = REPO / "docs" / "img"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = [
    "difference_error.png",
    "optimizers.png",
    "paraboloid.png",
    "scheme_errors.png",
    "step_sigmoid.png",
    "tangent.png",
]
#: The largest a committed figure may be.
MAX_FIGURE_BYTES = 64 * 1024

#: Every example and the test that runs it; a new script must be added here.
TESTED = {
    "seed_walkthrough.py": "test_seed_walkthrough",
    "custom_loss.py": "test_custom_loss",
    "gradient_check.py": "test_gradient_check",
    "figures.py": "test_figures_are_valid_pngs",
    "configure_trainer.py": "test_configure_trainer",
    "train_two_layer_net.py": "test_train_two_layer_net",
    "compare_optimizers.py": "test_compare_optimizers",
    "book_ch05_gradient_check.py": "test_book_ch05_gradient_check",
    "book_ch06_batch_norm_gradient_check.py": "test_book_ch06_batch_norm_gradient_check",
    "book_ch07_gradient_check.py": "test_book_ch07_gradient_check",
}


def run_example(
    script: str, *args: str, cwd: Path, expect: int = 0
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MPLBACKEND": "Agg",
        "MINIFW_DATA": str(cwd / "minifw-data"),
        "PYTHONWARNINGS": "error",
        "http_proxy": "http://127.0.0.1:9",
        "https_proxy": "http://127.0.0.1:9",
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "no_proxy": "",
        "NO_PROXY": "",
    }
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == expect, (
        f"{script} exited with {result.returncode}\n--- stdout\n{result.stdout}\n"
        f"--- stderr\n{result.stderr}"
    )
    return result


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert len(data) > 1000, f"{path} is only {len(data)} bytes"
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"


def test_every_example_is_tested() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(TESTED), "add new examples to TESTED and give them a test"
    assert all(name in globals() for name in TESTED.values())


def book_lines(out: str) -> dict[str, float]:
    """The book-style lines `name:value` of the first comparison in an example's output."""
    block = out.split("The book's comparison")[1].split("minifw's gradcheck")[0]
    pairs = [line.split(":") for line in block.splitlines()[1:] if ":" in line]
    return {name: float(value) for name, value in pairs}


def results(out: str, part: int = 0) -> dict[str, str]:
    """Each array's pass or FAIL in the `part`-th gradcheck table of an example's output."""
    table = out.split("minifw's gradcheck of the same gradients")[part + 1].split("overall:")[0]
    rows = [line.split() for line in table.splitlines() if line[:1].isalpha() and "shape" not in line]
    return {row[0]: row[-1] for row in rows if row[-1] in ("pass", "FAIL")}


def test_book_ch05_gradient_check(tmp_path: Path) -> None:
    out = run_example("book_ch05_gradient_check.py", cwd=tmp_path).stdout
    lines = book_lines(out)
    assert list(lines) == ["W1", "b1", "W2", "b2"]
    assert all(0 <= value < 1e-9 for value in lines.values())  # the book prints ~1e-10 .. 1e-13
    assert results(out) == dict.fromkeys(lines, "pass")
    assert out.rstrip().endswith("overall: PASS")


def test_book_ch06_batch_norm_gradient_check(tmp_path: Path) -> None:
    out = run_example("book_ch06_batch_norm_gradient_check.py", cwd=tmp_path).stdout
    names = ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    lines = book_lines(out)
    assert list(lines) == names
    assert lines["beta2"] > 1e-3  # one image: every ReLU after a normalization on its kink
    assert [name for name, result in results(out, 0).items() if result == "FAIL"] == ["beta2"]
    assert results(out, 1) == dict.fromkeys(names, "pass")
    assert out.rstrip().endswith("every check came out as expected")


def test_book_ch07_gradient_check(tmp_path: Path) -> None:
    out = run_example("book_ch07_gradient_check.py", cwd=tmp_path).stdout
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert list(book_lines(out)) == names
    assert results(out, 0)["W1"] == "FAIL"  # h = 1e-4 straddles a ReLU kink
    assert results(out, 1) == dict.fromkeys(names, "pass")
    assert out.rstrip().endswith("every check came out as expected")


def test_seed_walkthrough(tmp_path: Path) -> None:
    out = run_example("seed_walkthrough.py", cwd=tmp_path).stdout
    # minifw's values beside the note's, in the note's order.
    expected = [
        "0.09750000000000003",
        "0.0975000000031",
        "0.5975 ",
        "0.097500000000000031",
        "0.510825457099338 ",
        "0.5108254709933802",
        "2.302584092994546 ",
        "(4000, 784)",
        "(60000, 784)",
        "16.11809565095832",
        "DifferentiationError",
        "0.1999999999990898",
        "6.00000000000378 ",
        "7.999999999999119",
        "610.8914",
        "[6. 8.]",
    ]
    positions = [out.find(value) for value in expected]
    missing = [value for value, at in zip(expected, positions, strict=True) if at < 0]
    assert not missing, f"not in the output: {missing}\n{out}"
    assert positions == sorted(positions), "the sections are out of the note's order"


def test_custom_loss(tmp_path: Path) -> None:
    out = run_example("custom_loss.py", cwd=tmp_path).stdout
    assert "focal loss, 0.6 on the answer '2':  0.0817320731358941" in out
    assert "gamma = 0 equals the cross-entropy: True" in out
    assert "gamma must be a non-negative number, got gamma=-1.0" in out
    assert "overall: PASS" in out
    gap = float(out.split("losses differ by at most ")[1].split()[0])
    assert gap < 1e-9
    accuracy = float(out.rsplit("test accuracy ", 1)[1].split()[0])
    assert accuracy > 0.85


def test_gradient_check(tmp_path: Path) -> None:
    out = run_example("gradient_check.py", cwd=tmp_path).stdout
    assert out.count("overall: PASS") == 3
    assert out.count("overall: FAIL") == 2
    # The one-layer bug fails in that layer only.
    averaged = out.split("AveragedBias:")[1]
    assert [
        line.split()[-1] for line in averaged.splitlines() if line[:2] in {"W1", "b1", "W2", "b2"}
    ] == [
        "pass",
        "FAIL",
        "pass",
        "pass",
    ]
    assert out.rstrip().endswith("every check came out as expected")


def _pixels(path: Path) -> object:
    image_module = pytest.importorskip("PIL.Image")
    np = pytest.importorskip("numpy")
    with image_module.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def test_figures_are_valid_pngs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = run_example("figures.py", "--out", str(tmp_path / "figs"), cwd=tmp_path).stdout
    for name in FIGURES:
        assert_png(tmp_path / "figs" / name)
        assert name in out
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == FIGURES


def test_figures_default_folder(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    run_example("figures.py", "--only", "tangent", cwd=tmp_path)
    assert_png(tmp_path / "figures" / "tangent.png")
    assert not (tmp_path / "figures" / "paraboloid.png").exists()


def test_committed_figures_are_small_and_regenerable(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    np = pytest.importorskip("numpy")
    assert sorted(p.name for p in DOC_IMAGES.glob("*.png")) == FIGURES
    run_example("figures.py", "--out", str(tmp_path), cwd=tmp_path)
    for name in FIGURES:
        committed, fresh = DOC_IMAGES / name, tmp_path / name
        assert committed.stat().st_size <= MAX_FIGURE_BYTES, f"{name} is too large to commit"
        old, new = _pixels(committed), _pixels(fresh)
        assert np.shape(old) == np.shape(new), (
            f"{name}: size changed; run examples/figures.py --out docs/img"
        )
        # Identical on the machine that drew them; allow for font rendering elsewhere.
        difference = float(np.mean(np.abs(np.subtract(old, new))))
        assert difference < 0.01, f"{name} is stale; run: python examples/figures.py --out docs/img"


@pytest.mark.slow
def test_configure_trainer(tmp_path: Path) -> None:
    out = run_example("configure_trainer.py", cwd=tmp_path).stdout
    assert "TwoLayerNet {'hidden_size': 50, 'weight_init_std': 0.01, 'seed': 0}" in out
    assert "CentralDiff {'h': 0.0001}" in out
    assert "after training: step 300: train accuracy" in out
    assert "step 100: train accuracy" in out


def test_configure_trainer_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[sampler]\ntype = "RandomChoiceSampler"\nbatchsize = 10\n', encoding="utf-8")
    result = run_example("configure_trainer.py", str(bad), cwd=tmp_path, expect=2)
    assert "[sampler] unknown key 'batchsize'" in result.stderr
    assert "Traceback" not in result.stderr


def test_configure_trainer_with_fewer_steps(tmp_path: Path) -> None:
    out = run_example("configure_trainer.py", "--steps", "3", cwd=tmp_path).stdout
    assert "trained 3 steps" in out
    assert "after training: step 3:" in out


@pytest.mark.slow
def test_train_two_layer_net(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    result = run_example("train_two_layer_net.py", cwd=tmp_path)
    out = result.stdout
    assert "(39760 parameters)" in out
    assert "after training: step 800" in out
    accuracy = float(out.rsplit("test accuracy ", 1)[1].split()[0])
    assert accuracy > 0.75, out
    # Progress as plain lines, no bar: stderr is a pipe here.
    assert "800/800 steps (100%)" in result.stderr
    assert "\r" not in result.stderr
    assert_png(tmp_path / "two_layer_net.png")


def test_train_two_layer_net_short_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = run_example(
        "train_two_layer_net.py",
        "--steps",
        "4",
        "--eval-every",
        "2",
        "--no-progress",
        "--out",
        "short.png",
        cwd=tmp_path,
    ).stdout
    assert "after training: step 4" in out
    assert_png(tmp_path / "short.png")


def test_compare_optimizers(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = run_example(
        "compare_optimizers.py", "--steps", "3", "--out", "opt.png", cwd=tmp_path
    ).stdout
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line[:1].isupper()}
    for name, rate in [
        ("SGD", "0.01"),
        ("Momentum", "0.01"),
        ("Nesterov", "0.01"),
        ("AdaGrad", "0.01"),
        ("RMSprop", "0.01"),
        ("Adam", "0.001"),
    ]:
        assert rows[name][0] == rate, out
        first, last, accuracy = (float(v) for v in rows[name][1:])
        assert last > 0
        assert first == float(rows["SGD"][1])  # same network, same first batch
        assert 0.0 <= accuracy <= 1.0
    assert float(rows["AdaGrad"][2]) < float(rows["SGD"][2])  # 2.1186 against 2.3338
    assert_png(tmp_path / "opt.png")
