"""The Jupyter notebooks in docs/notebooks run as stored, offline, and come in English and Korean.

Each notebook is stored without outputs (the docs build executes it again and renders what it
prints). The tests here check how they are stored (valid nbformat, no outputs, the ``python3``
kernel, only minifw's public API, an English and a Korean version of each with the same cells, a
place in the site's navigation, a docs build that executes them), then execute every one with
nbclient in a fresh kernel of this interpreter: no cell may raise or write to stderr, every
``plt.show()`` (and every ``History.plot()`` a cell ends with) must give an image, the numbers the
study note prints must be printed beside minifw's values, a training run must show tqdm's
progress widget (not lines on stderr), and reports (``History``, ``GradcheckReport``) must show
as HTML tables.

The kernel runs in a temporary directory with its own Jupyter and IPython directories (nothing is
written to the user's), an empty minifw data cache and HTTP(S) proxies that point nowhere, so an
accidental download fails instead of reaching the network.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import time
from pathlib import Path

import pytest

try:
    import ipykernel  # noqa: F401  (the kernel the notebooks run in)
    import nbclient
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
except ImportError:  # pragma: no cover - the dev extra installs them
    pytest.skip("the dev extra is not installed (pip install -e '.[dev]')", allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO / "docs" / "notebooks"
LANGUAGES = ("en", "ko")
NOTEBOOKS = sorted(NOTEBOOKS_DIR.rglob("*.ipynb"))
#: Seconds a single cell may take before the run fails (the slowest cell takes a few seconds).
CELL_TIMEOUT = 300
HANGUL = re.compile(r"[\uac00-\ud7a3]")

#: Pairs printed on one line by the chapter walkthrough: minifw's value, then the note's.
SEED_PAIRS = [
    ("0.09750000000000003", "0.0975000000031"),
    ("0.5975", "0.597500000003"),
    ("0.510825457099338", "0.5108254709933802"),
    ("2.302584092994546", "2.3025840929945458"),
    ("6.00000000000378", "6.000000378"),
    ("7.999999999999119", "7.99999999119"),
    ("(4000, 784)", "(60000, 784)"),
    ("(4000, 10)", "(60000, 10)"),
]


def notebook_id(path: Path) -> str:
    return str(path.relative_to(NOTEBOOKS_DIR))


def read(path: Path) -> nbformat.NotebookNode:
    notebook: nbformat.NotebookNode = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    return notebook


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_notebooks_come_in_english_and_korean() -> None:
    by_language = {
        language: sorted(p.name for p in (NOTEBOOKS_DIR / language).glob("*.ipynb"))
        for language in LANGUAGES
    }
    assert len(by_language["en"]) >= 3, by_language
    assert by_language["en"] == by_language["ko"], "every notebook needs both languages"
    stray = [p for p in NOTEBOOKS if p.parent.name not in LANGUAGES or p.parent.parent != NOTEBOOKS_DIR]
    assert not stray, f"notebooks belong in docs/notebooks/en or docs/notebooks/ko: {stray}"


@pytest.mark.parametrize(
    "english", sorted((NOTEBOOKS_DIR / "en").glob("*.ipynb")), ids=notebook_id
)
def test_translations_have_the_same_cells(english: Path) -> None:
    en, ko = read(english), read(NOTEBOOKS_DIR / "ko" / english.name)
    assert [(c.cell_type, c.id) for c in en.cells] == [(c.cell_type, c.id) for c in ko.cells]
    for cell_en, cell_ko in zip(en.cells, ko.cells, strict=True):
        if cell_en.cell_type == "markdown":
            assert not HANGUL.search(cell_en.source), f"{english.name} {cell_en.id}: Korean text"
            assert HANGUL.search(cell_ko.source), f"ko/{english.name} {cell_ko.id}: untranslated"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_stored_valid_and_without_outputs(path: Path) -> None:
    notebook = read(path)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    for cell in code_cells(notebook):
        assert cell.outputs == [], f"{cell.id} has stored outputs: clear them before committing"
        assert cell.execution_count is None, f"{cell.id} has an execution count"


def minifw_imports(source: str) -> list[str]:
    """Return every ``minifw`` module or name the code imports, as dotted paths."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "minifw"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "minifw":
            found += [f"{node.module}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and isinstance(node.value, ast.Name)
            and node.value.id == "minifw"
        ):
            found.append(f"minifw.{node.attr}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebooks_use_only_public_api(path: Path) -> None:
    used = [name for cell in code_cells(read(path)) for name in minifw_imports(cell.source)]
    assert used, "a notebook about minifw should import it"
    private = [
        name for name in used if any(part.startswith("_") for part in name.split(".")[1:])
        and name != "minifw.__version__"
    ]
    assert not private, f"private names used: {private}"


def test_public_api_check_sees_private_names() -> None:
    code = "import minifw.nn._series\nfrom minifw.nn.layers import _expand\nminifw._atomic\n"
    assert minifw_imports(code) == ["minifw.nn._series", "minifw.nn.layers._expand", "minifw._atomic"]


def test_docs_build_executes_the_notebooks() -> None:
    # Stored without outputs, a notebook page shows outputs only if the build runs it; an error
    # must fail the build, and a cache (keyed on the notebook, not on minifw) would go stale.
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    plugin = config[config.index("- mkdocs-jupyter:") :].split("\n  - ")[0]
    assert re.search(r"^\s+execute: !ENV \[MINIFW_DOCS_NOTEBOOKS, true\]$", plugin, re.M), plugin
    assert re.search(r"^\s+allow_errors: false$", plugin, re.M), plugin
    assert re.search(r"^\s+cache: false$", plugin, re.M), plugin


@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_is_in_the_site_navigation(path: Path) -> None:
    nav_entry = path.relative_to(REPO / "docs").as_posix()
    assert f": {nav_entry}\n" in (REPO / "mkdocs.yml").read_text(encoding="utf-8")


class Runner:
    """Executes notebooks in an isolated kernel, each at most once per test session."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[Path, nbformat.NotebookNode] = {}
        self.seconds: dict[Path, float] = {}
        # This interpreter's kernel, found first on JUPYTER_PATH (before any user's "python3").
        kernel = root / "jupyter" / "kernels" / "python3"
        kernel.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (minifw tests)",
            "language": "python",
        }
        (kernel / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")

    def environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, sub in [
            ("JUPYTER_PATH", "jupyter"),
            ("JUPYTER_CONFIG_DIR", "jupyter-config"),
            ("JUPYTER_DATA_DIR", "jupyter-data"),
            ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
            ("IPYTHONDIR", "ipython"),
            ("MINIFW_DATA", "minifw-data"),
        ]:
            monkeypatch.setenv(name, str(self.root / sub))
        monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
        monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws
        for proxy in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
            monkeypatch.setenv(proxy, "http://127.0.0.1:9")
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.setenv(name, "")

    def run(self, path: Path) -> nbformat.NotebookNode:
        """Return the notebook at ``path`` executed; raise if a cell raises."""
        if path not in self.done:
            notebook = read(path)
            workdir = self.root / "work" / notebook_id(path)
            workdir.mkdir(parents=True)
            with pytest.MonkeyPatch.context() as monkeypatch:
                self.environment(monkeypatch)
                argv = KernelSpecManager().get_kernel_spec("python3").argv
                assert argv[0] == sys.executable, f"the kernel would be {argv[0]}"
                client = nbclient.NotebookClient(
                    notebook,
                    kernel_name="python3",
                    timeout=CELL_TIMEOUT,
                    resources={"metadata": {"path": str(workdir)}},  # the kernel's cwd
                )
                start = time.perf_counter()
                client.execute()  # raises CellExecutionError, naming the cell
                self.seconds[path] = time.perf_counter() - start
            self.done[path] = notebook
        return self.done[path]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(tmp_path_factory.mktemp("notebooks"))


def text_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Return the lines the notebook's code cells printed (stdout and plain-text results)."""
    lines = []
    for cell in code_cells(notebook):
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stdout":
                lines += output.text.splitlines()
            elif output.output_type == "execute_result":
                lines += output.data.get("text/plain", "").splitlines()
    return lines


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=notebook_id)
def test_notebook_runs(path: Path, runner: Runner) -> None:
    notebook = runner.run(path)
    stderr = [
        (cell.id, output.text)
        for cell in code_cells(notebook)
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stderr"
    ]
    assert not stderr, f"cells wrote to stderr (a warning?): {stderr}"
    assert text_outputs(notebook), "the notebook printed nothing"
    images = [
        output
        for cell in code_cells(notebook)
        for output in cell.outputs
        if "image/png" in output.get("data", {})
    ]
    drawn = sum(
        "plt.show()" in cell.source or ends_with_a_plot(cell.source) for cell in code_cells(notebook)
    )
    assert len(images) == drawn, f"{drawn} cells draw, {len(images)} images came out"
    print(f"{notebook_id(path)}: {runner.seconds[path]:.1f} s")


def ends_with_a_plot(source: str) -> bool:
    """Whether a cell's last statement is an expression calling ``.plot(...)`` (a figure shown)."""
    body = ast.parse(source).body
    last = body[-1] if body else None
    return (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and isinstance(last.value.func, ast.Attribute)
        and last.value.func.attr == "plot"
    )


WIDGET = "application/vnd.jupyter.widget-view+json"


def outputs_of(notebook: nbformat.NotebookNode, cell_id: str) -> list[nbformat.NotebookNode]:
    return next(cell.outputs for cell in code_cells(notebook) if cell.id == cell_id)


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_training_shows_a_progress_widget_and_a_history_table(language: str, runner: Runner) -> None:
    notebook = runner.run(NOTEBOOKS_DIR / language / "02-training.ipynb")
    outputs = outputs_of(notebook, "cell-05")  # the Trainer's run with progress=True
    widgets = [o for o in outputs if WIDGET in o.get("data", {})]
    assert len(widgets) == 1, [o.get("data", {}).keys() for o in outputs]
    assert widgets[0].data[WIDGET]["model_id"]
    bar = widgets[0].data.get("text/plain", "")
    assert "0/320 [" in bar, bar  # its text form, as drawn first: a bar of the run's 320 steps
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    tables = [o.data["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(tables) == 1
    assert 'class="minifw-report"' in tables[0]
    assert "<caption>History: 400 steps;" in tables[0]
    assert tables[0].count("<tr>") == 1 + 10  # a header and the 10 evaluations (every 40 steps)
    figure = outputs_of(notebook, "cell-07")
    assert ["image/png" in o.get("data", {}) for o in figure] == [True]  # shown once


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_gradcheck_report_shows_as_a_table(language: str, runner: Runner) -> None:
    notebook = runner.run(NOTEBOOKS_DIR / language / "03-gradient-check.ipynb")
    (result,) = [o for o in outputs_of(notebook, "cell-07") if o.output_type == "execute_result"]
    table = result.data["text/html"]
    assert "<caption>gradcheck PASS: CentralDiff(h=0.0001) vs backprop" in table
    assert [row.split("</td>")[0] for row in table.split("<tr><td>")[1:]] == ["W1", "b1", "W2", "b2"]
    assert result.data["text/plain"].startswith("GradcheckReport(PASS: 4 arrays")


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_walkthrough_prints_the_note_values_beside_minifw(language: str, runner: Runner) -> None:
    lines = text_outputs(runner.run(NOTEBOOKS_DIR / language / "01-chapter-4.ipynb"))
    for ours, noted in SEED_PAIRS:
        beside = [line for line in lines if ours in line and noted in line]
        assert beside, f"no output line shows minifw's {ours} beside the note's {noted}"
