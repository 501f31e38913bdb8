"""TOML configuration: the schema derived from the classes, the registry, user classes by import path."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any, final

import attrs
import numpy as np
import pytest
from _data_helpers import TEST, listing, write_folder

import minifw
from minifw import (
    Adam,
    BatchSampler,
    CrossEntropy,
    Dataset,
    Differentiator,
    Loss,
    Model,
    MultiLayerNet,
    Optimizer,
    RandomChoiceSampler,
    ShuffleSampler,
    Trainer,
    TwoLayerNet,
)
from minifw._validation import keyword_fields
from minifw.app.config import RunOptions, TrainConfig, load_config
from minifw.app.registry import REGISTRY, markdown_table
from minifw.data import Split
from minifw.errors import ConfigError, MinifwError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "train.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- building ------------------------------------------------------------------------------------


def test_a_file_builds_the_trainer_it_describes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[trainer]
learning_rate = 0.2
eval_every = 10
seed = 5
progress = false

[model]
hidden_size = 7

[sampler]
type = "ShuffleSampler"
batch_size = 32
drop_last = true

[loss]
type = "minifw.nn.losses:MeanSquared"

[differentiator]
type = "ForwardDiff"
h = 1e-5
""",
    )
    trainer = load_config(path).build()
    assert trainer.learning_rate == 0.2
    assert trainer.optimizer == minifw.SGD(learning_rate=0.2)
    assert trainer.eval_every == 10
    assert trainer.progress is False
    assert isinstance(trainer.model, TwoLayerNet)
    assert trainer.model.hidden_size == 7
    assert trainer.model.seed == 5
    assert trainer.sampler == ShuffleSampler(32, seed=5, drop_last=True)
    assert trainer.loss_function == minifw.MeanSquared()
    assert trainer.differentiator == minifw.ForwardDiff(h=1e-5)
    assert len(trainer.dataset.train) == 4000
    trainer.fit(2)


def test_an_empty_file_builds_the_trainers_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.trainer == {}
    assert config.run == RunOptions()
    assert config.optimizer is None
    trainer = config.build()
    assert trainer.optimizer == minifw.SGD(learning_rate=0.1)  # the Trainer's own default
    assert trainer.sampler == RandomChoiceSampler(100)
    assert (trainer.eval_every, trainer.progress, trainer.blas_threads) == (100, True, 1)


def test_a_multi_layer_net_with_adam(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[trainer]
seed = 3
blas_threads = 0

[model]
type = "MultiLayerNet"
hidden_sizes = [20, 10]
activation = "tanh"
weight_init = "xavier"
output = "identity"

[loss]
type = "MeanSquared"

[optimizer]
type = "Adam"
learning_rate = 0.01
beta2 = 0.99
""",
    )
    trainer = load_config(path).build()
    assert isinstance(trainer.model, MultiLayerNet)
    assert trainer.model.hidden_sizes == (20, 10)
    assert (trainer.model.activation, trainer.model.output) == ("tanh", "identity")
    reference = MultiLayerNet(
        hidden_sizes=(20, 10), activation="tanh", weight_init="xavier", output="identity", seed=3
    )
    for name, value in reference.params.items():
        np.testing.assert_array_equal(trainer.model.params[name], value)
    assert trainer.optimizer == Adam(learning_rate=0.01, beta2=0.99)
    assert trainer.blas_threads is None  # 0 in the file: numpy's own setting
    assert trainer.fit(2).steps == 2


def test_an_optimizer_section_without_type_is_sgd(tmp_path: Path) -> None:
    trainer = load_config(write(tmp_path, "[optimizer]\nlearning_rate = 0.05\n")).build()
    assert trainer.optimizer == minifw.SGD(learning_rate=0.05)


def test_a_learning_rate_and_an_optimizer_are_refused_together(tmp_path: Path) -> None:
    path = write(tmp_path, "[trainer]\nlearning_rate = 0.1\n[optimizer]\ntype = 'Momentum'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: [trainer] learning_rate and [optimizer] both given")
    assert "put learning_rate = 0.1 in [optimizer]" in message


def test_the_trainer_is_built_by_the_config_without_an_import_cycle() -> None:
    code = "import sys, minifw.train.trainer; print('minifw.app.config' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "False"
    assert not hasattr(Trainer, "from_config")


# --- errors name the file, section and key --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[trainer]\nlearning_rat = 0.1\n", r"\[trainer\] unknown key 'learning_rat'; expected: "),
        (
            "[trainer]\nlearning_rate = 'fast'\n",
            r"\[trainer\] learning_rate must be a positive finite float, got learning_rate='fast'$",
        ),
        ("[trainer]\nlearning_rate = -1\n", r"learning_rate must be a positive finite float"),
        (
            "[trainer]\nsteps = -1\n",
            r"\[trainer\] steps must be a non-negative integer, got steps=-1$",
        ),
        ("[trainer]\nseed = -1\n", r"\[trainer\] seed must be an integer in 0..2\*\*128-1, got"),
        ("[trainer]\nseed = 1.5\n", r"\[trainer\] seed must be an integer in 0..2\*\*128-1"),
        ("[trainer]\nprogress = 'yes'\n", r"\[trainer\] progress must be True or False, got"),
        (
            "[trainer]\neval_every = true\n",
            r"\[trainer\] eval_every must be a non-negative integer",
        ),
        ("[trainer]\nblas_threads = -1\n", r"blas_threads must be 0 \(for None\) or a positive"),
        ("[trainer]\nblas_threads = 99999999999\n", r"blas_threads must be at most 1024, got"),
        (
            "[trainer]\nworkers = 0\n",
            r"\[trainer\] workers must be None, a positive integer \(the number",
        ),
        (
            "[trainer]\nworkers = 2\n[differentiator]\ntype = 'Backprop'\n",
            r"\[trainer\] Trainer field workers=2 spreads a numerical gradient over workers",
        ),
        (
            "[trainer]\ncheckpoint = 3\n",
            r"\[trainer\] checkpoint must be a string, got checkpoint=3",
        ),
        ("[model]\nhidden = 5\n", r"\[model\] unknown key 'hidden'; TwoLayerNet takes: "),
        ("[model]\nhidden_size = 0\n", r"\[model\] hidden_size must be a positive integer"),
        ("[model]\nhidden_size = 1000000000\n", r"\[model\] hidden_size must be at most 2\*\*20"),
        (
            "[model]\nhidden_size = 1000000\n",
            r"\[model\] layer sizes \(784, 1000000, 10\) need 795,000,010 parameters",
        ),
        (
            "[model]\ntype = 'MultiLayerNet'\nhidden_sizes = [0]\n",
            r"\[model\] hidden_sizes must be",
        ),
        ("[model]\ntype = 'MultiLayerNet'\nactivation = 'gelu'\n", r"\[model\] activation must be"),
        ("[model]\nseed = -1\n", r"\[model\] seed must be None, an integer in 0..2\*\*128-1"),
        ("[sampler]\nbatch_size = 2.5\n", r"\[sampler\] batch_size must be a positive integer"),
        ("[sampler]\nbatch_size = 1180591620717411303424\n", r"batch_size must be at most 2\*\*31"),
        ("[sampler]\nreplace = 1\n", r"\[sampler\] replace must be True or False, got replace=1"),
        ("[loss]\ntype = 'Hinge'\n", r"\[loss\] unknown type 'Hinge'; built-in: CrossEntropy"),
        ("[loss]\ntype = 3\n", r"\[loss\] type must be a string, got 3"),
        ("[loss]\neps = 1e400\n", r"not valid TOML|\[loss\] eps must be a positive finite float"),
        ("[differentiator]\nh = 0\n", r"\[differentiator\] h must be a positive finite float"),
        ("[optimizer]\ntype = 'Adam'\nbeta1 = 1.5\n", r"\[optimizer\] beta1 must be"),
        ("[optimizer]\ntype = 'Adamw'\n", r"\[optimizer\] unknown type 'Adamw'; built-in: SGD, "),
        ("[data]\nsource = 'web'\n", r"\[data\] source must be one of 'sample', 'download', "),
        ("[data]\nsource = 'directory'\n", r"\[data\] path is required"),
        ("[data]\nnormalise = true\n", r"\[data\] unknown key 'normalise'; expected: source, "),
        ("[trainers]\n", r"unknown section \[trainers\]; expected: "),
        ("trainer = 3\n", r"\[trainer\] must be a table, got 3"),
        ("[trainer\n", r"not valid TOML"),
    ],
)
def test_errors_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(path).build()
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "latin1.toml")


def test_a_bundled_sample_exists_for_mnist_only(tmp_path: Path) -> None:
    path = write(tmp_path, "[data]\ndataset = 'FashionMNIST'\n")
    with pytest.raises(ConfigError, match=r"\[data\] only MNIST has a bundled sample"):
        load_config(path).build()


# --- the data set: a registry kind, chosen by name --------------------------------------------------


def test_fashion_mnist_by_name_from_a_folder(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "clothes")
    path = write(tmp_path, f"[data]\nname = 'FashionMNIST'\nsource = 'directory'\npath = '{folder}'\n")
    config = load_config(path)
    assert config.data.name == "FashionMNIST"
    dataset = config.build_dataset()
    assert type(dataset) is minifw.FashionMNIST
    np.testing.assert_array_equal(dataset.test.x.reshape(-1, 28, 28) * 255, TEST[0])
    assert dataset.source == folder


def test_fashion_mnist_by_name_from_the_cache(tmp_path: Path) -> None:
    write_folder(tmp_path / "cache" / "fashion-mnist")
    before = listing(tmp_path / "cache" / "fashion-mnist")
    raw = {"data": {"name": "FashionMNIST", "source": "download", "root": str(tmp_path / "cache")}}
    dataset = TrainConfig.from_dict(raw).build_dataset()
    assert type(dataset) is minifw.FashionMNIST
    assert len(dataset.train) == 30
    assert listing(tmp_path / "cache" / "fashion-mnist") == before  # nothing was downloaded


def test_dataset_is_the_earlier_name_of_name(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "clothes")
    old = {"data": {"dataset": "FashionMNIST", "source": "directory", "path": str(folder)}}
    assert TrainConfig.from_dict(old).data == TrainConfig.from_dict(
        {"data": {"name": "FashionMNIST", "source": "directory", "path": str(folder)}}
    ).data
    with pytest.raises(ConfigError, match=r"\[data\] name and dataset both given"):
        TrainConfig.from_dict({"data": {"dataset": "MNIST", "name": "MNIST"}})


@final
@attrs.frozen(eq=False)
class Made(Dataset):
    """A data set made in code: it offers `sample` and nothing else."""

    train: Split
    test: Split

    @property
    def num_classes(self) -> int:
        return 2

    @classmethod
    def sample(cls, *, normalize: bool = True, flatten: bool = True, one_hot: bool = False) -> Made:
        split = Split(x=np.eye(4, 784), t=np.array([0, 1, 0, 1]))
        return cls(train=split, test=split)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"name": "KMNIST"},
            "f.toml: [data] unknown name 'KMNIST'; built-in: MNIST, FashionMNIST, or "
            "'package.module:ClassName' for your own",
        ),
        (
            {"name": "minifw.data:Split"},
            "f.toml: [data] name 'minifw.data:Split' is not a Dataset subclass",
        ),
        (
            {"name": "minifw.data:IDXDataset", "source": "download"},
            "f.toml: [data] name 'minifw.data:IDXDataset' is abstract (it lacks spec)",
        ),
        ({"name": 3}, "f.toml: [data] name must be a string, got name=3"),
    ],
)
def test_an_unknown_data_set_is_refused_before_anything_is_built(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"data": data}, source="f.toml")
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"name": "FashionMNIST"},
            "f.toml: [data] only MNIST has a bundled sample, got name = 'FashionMNIST' with "
            "source = 'sample'; FashionMNIST offers source = 'download' or 'directory'",
        ),
        (
            {"name": f"{__name__}:Made", "source": "download"},
            f"f.toml: [data] Made cannot be downloaded, got name = '{__name__}:Made' with "
            "source = 'download'; Made offers source = 'sample'",
        ),
        (
            {"name": f"{__name__}:Made", "source": "directory", "path": "x"},
            f"f.toml: [data] Made cannot be read from a folder, got name = '{__name__}:Made' "
            "with source = 'directory'; Made offers source = 'sample'",
        ),
    ],
)
def test_a_source_the_data_set_does_not_offer_is_refused_naming_those_it_does(
    data: dict[str, object], message: str
) -> None:
    config = TrainConfig.from_dict({"data": data}, source="f.toml")
    with pytest.raises(ConfigError) as info:
        config.build_dataset()
    assert str(info.value) == message


def test_a_data_set_of_your_own_by_import_path() -> None:
    trainer = TrainConfig.from_dict({"data": {"name": f"{__name__}:Made"}}).build()
    assert type(trainer.dataset) is Made
    assert trainer.dataset.train.x.shape == (4, 784)
    trainer.progress = False
    assert len(trainer.fit(2).loss) == 2


# --- one vocabulary: the class, the config and the command line say the same --------------------

# (class, keyword, refused value): the class's own refusal and the config's must agree.
REFUSALS = [
    (Trainer, "eval_every", -1),
    (Trainer, "progress", "yes"),
    (Trainer, "learning_rate", 0.0),
    (Trainer, "blas_threads", 2**70),
    (RandomChoiceSampler, "batch_size", 0),
    (RandomChoiceSampler, "batch_size", 2**70),
    (ShuffleSampler, "drop_last", "no"),
    (CrossEntropy, "eps", -1.0),
    (minifw.CentralDiff, "h", float("inf")),
    (TwoLayerNet, "weight_init_std", 0),
    (Adam, "learning_rate", "fast"),
]


def _refusal_from_the_class(cls: type, key: str, value: object) -> str:
    if cls is Trainer:
        options: dict[str, Any] = {"model": TwoLayerNet(hidden_size=2), "dataset": SAMPLE}
    elif cls is RandomChoiceSampler or cls is ShuffleSampler:
        options = {"batch_size": 10}
    else:
        options = {}
    with pytest.raises(MinifwError) as info:
        cls(**{**options, key: value})
    return str(info.value).removeprefix("Trainer field ")


SAMPLE = minifw.MNIST.sample()


@pytest.mark.parametrize(("cls", "key", "value"), REFUSALS, ids=lambda v: str(v)[:20])
def test_the_class_and_the_config_refuse_alike(cls: type, key: str, value: object) -> None:
    section = (
        "trainer"
        if cls is Trainer
        else next(kind.name for kind in REGISTRY.values() if kind.by_name(cls.__name__))
    )
    raw: dict[str, Any] = {section: {key: value}}
    if section != "trainer":
        raw[section]["type"] = cls.__name__
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(raw, source="f.toml")
    from_config = str(info.value).removeprefix(f"f.toml: [{section}] ")
    assert from_config == _refusal_from_the_class(cls, key, value)


def test_the_trainer_section_is_the_trainers_settings_and_the_run_options() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"trainer": {"nope": 1}})
    listed = str(info.value).split("expected: ")[1].split(", ")
    settings = [k for k in keyword_fields(Trainer) if k not in {"model", "dataset", *REGISTRY}]
    assert sorted(listed) == sorted([*settings, *keyword_fields(RunOptions)])
    assert {"learning_rate", "eval_every", "progress", "blas_threads"} <= set(listed)


SETTINGS = {"eval_every": 7, "progress": False, "blas_threads": 2, "workers": 2}


def test_every_trainer_setting_is_tried_below() -> None:
    assert set(keyword_fields(Trainer)) - {"model", "dataset", *REGISTRY} == {
        "learning_rate",
        *SETTINGS,
    }


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_every_trainer_setting_reaches_the_trainer(setting: str) -> None:
    value = SETTINGS[setting]
    config = TrainConfig.from_dict({"trainer": {setting: value}})
    assert getattr(config.build(), setting) == value


# --- classes of your own --------------------------------------------------------------------------


def test_a_user_class_by_import_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_losses.py").write_text(
        "import attrs, numpy as np\n"
        "from typing import final\n"
        "from minifw import Loss\n"
        "@final\n"
        "@attrs.frozen\n"
        "class Brier(Loss):\n"
        "    scale: float = 1.0\n"
        "    def per_example(self, y, t):\n"
        "        return self.scale * np.sum((y - t) ** 2, axis=1)\n"
        "class Plain(Loss):\n"
        "    def __init__(self, power=2):\n"
        "        if not isinstance(power, int):\n"
        "            raise RuntimeError('power must be an int')\n"
        "        super().__init__()\n"
        "        object.__setattr__(self, 'power', power)\n"
        "    def per_example(self, y, t):\n"
        "        return np.sum(np.abs(y - t) ** self.power, axis=1)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, "[loss]\ntype = 'my_losses:Brier'\nscale = 2.0\n")
    trainer = load_config(path).build()
    assert type(trainer.loss_function).__name__ == "Brier"
    assert trainer.loss_function.scale == 2.0  # type: ignore[attr-defined]
    path = write(tmp_path, "[loss]\ntype = 'my_losses:Plain'\npower = 3\n")
    assert load_config(path).build().loss_function.power == 3  # type: ignore[attr-defined]
    # A class of your own that fails when built: a ConfigError naming the section and type.
    path = write(tmp_path, "[loss]\ntype = 'my_losses:Plain'\npower = 'x'\n")
    with pytest.raises(ConfigError, match=r"\[loss\] my_losses:Plain: RuntimeError: power"):
        load_config(path).build()
    # A plain class's keywords come from its signature.
    path = write(tmp_path, "[loss]\ntype = 'my_losses:Plain'\npow = 3\n")
    with pytest.raises(ConfigError, match=r"\[loss\] unknown key 'pow'; Plain takes: power"):
        load_config(path)


MODULES = {
    "raises_at_import": "raise RuntimeError('no GPU found')\n",
    "exits_at_import": "import sys\nsys.exit(3)\n",
    "bad_syntax": "def broken(:\n",
    "imports_missing": "import no_such_package_xyz\n",
    "divides_by_zero": "x = 1 / 0\n",
    "abstract_loss": "from minifw import Loss\nclass Half(Loss):\n    pass\n",
    "not_a_class": "Brier = 3\n",
}


@pytest.mark.parametrize(
    ("type_name", "fragment"),
    [
        (":X", r"type ':X' is neither a built-in name .* \(got no module before ':'\)"),
        ("..:X", r"type '..:X' is neither .* \(got module '..'\)"),
        ("a b:C", r"\(got module 'a b'\)"),
        ("os:", r"\(got class ''\)"),
        ("os:1x", r"\(got class '1x'\)"),
        ("import:X", r"\(got module 'import'\)"),
        ("os.path:join:x", r"\(got class 'join:x'\)"),
        ("no.such.module:X", r"cannot import module 'no.such.module': ModuleNotFoundError"),
        ("raises_at_import:X", r"cannot import module 'raises_at_import': RuntimeError: no GPU"),
        ("exits_at_import:X", r"cannot import module 'exits_at_import': SystemExit: 3"),
        ("bad_syntax:X", r"cannot import module 'bad_syntax': SyntaxError"),
        ("imports_missing:X", r"ModuleNotFoundError: No module named 'no_such_package_xyz'"),
        ("divides_by_zero:X", r"ZeroDivisionError: division by zero"),
        ("abstract_loss:Half", r"type 'abstract_loss:Half' is abstract \(it lacks per_example\)"),
        ("not_a_class:Brier", r"type 'not_a_class:Brier' is not a Loss subclass"),
        ("minifw.nn.models:TwoLayerNet", r"type 'minifw.nn.models:TwoLayerNet' is not a Loss subclass"),
        ("minifw.nn.losses:Nothing", r"module 'minifw.nn.losses' has no 'Nothing'"),
    ],
)
def test_a_hostile_type_is_a_config_error_naming_file_section_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, type_name: str, fragment: str
) -> None:
    for name, text in MODULES.items():
        (tmp_path / f"{name}.py").write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write(tmp_path, f"[loss]\ntype = {type_name!r}\n", "hostile.toml")
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: [loss] type")
    assert "\n" not in str(info.value)


# --- the registry -----------------------------------------------------------------------------------

BASES: dict[str, tuple[type, ...]] = {
    "data": (minifw.Dataset,),
    "model": (Model,),
    "sampler": (BatchSampler,),
    "loss": (Loss,),
    "differentiator": (Differentiator, minifw.Backprop),
    "optimizer": (Optimizer,),
}


def test_the_registry_has_the_six_kinds() -> None:
    assert tuple(REGISTRY) == tuple(BASES)
    assert {kind: REGISTRY[kind].bases for kind in REGISTRY} == BASES


@pytest.mark.parametrize(
    ("kind", "part"),
    [(kind.name, part) for kind in REGISTRY.values() for part in kind.parts],
    ids=lambda v: getattr(v, "name", v),
)
def test_every_registered_class_is_a_concrete_subclass_of_its_kinds_base(
    kind: str, part: Any
) -> None:
    assert issubclass(part.cls, BASES[kind])
    assert not inspect.isabstract(part.cls)
    assert getattr(part.cls, "__final__", False), f"{part.name} should be @typing.final"
    assert part.cli == part.cli.lower()
    assert " " not in part.cli


def test_names_are_unique_and_defaults_are_registered() -> None:
    for kind in REGISTRY.values():
        assert len(set(kind.names)) == len(kind.names)
        assert len(set(kind.cli_names)) == len(kind.cli_names)
        assert kind.by_name(kind.default) is not None


def _public_concrete_subclasses(bases: tuple[type, ...]) -> set[type]:
    found: set[type] = set()
    stack = list(bases)
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        module = sys.modules.get(cls.__module__)
        if (
            cls.__module__.startswith("minifw.")
            and not inspect.isabstract(cls)
            and getattr(module, cls.__name__, None) is cls  # not a doctest's class
            and not cls.__name__.startswith("_")
        ):
            found.add(cls)
    return found


#: Built-in classes a configuration cannot describe, and why.
NOT_CONFIGURABLE = {minifw.Sequential: "made of layer objects, which TOML cannot write"}


@pytest.mark.parametrize("kind", list(BASES))
def test_every_built_in_part_is_registered(kind: str) -> None:
    # The completeness guard: a new built-in class must be added to minifw.app.registry.
    registered = {part.cls for part in REGISTRY[kind].parts}
    assert _public_concrete_subclasses(BASES[kind]) - set(NOT_CONFIGURABLE) == registered


def test_the_docs_table_is_generated_from_the_registry() -> None:
    table = markdown_table()
    for kind in REGISTRY.values():
        for part in kind.parts:
            assert f"`{part.name}`" in table
            assert f"`{part.cli}`" in table
    page = (ROOT / "docs/howto/configure-toml.md").read_text(encoding="utf-8")
    assert "<!-- minifw:registry-table -->" in page
    spec = importlib.util.spec_from_file_location("hook", ROOT / "docs/_ext/registry_table.py")
    assert spec is not None
    assert spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    rendered = hook.on_page_markdown(page)
    assert table in rendered
    assert "minifw:registry-table" not in rendered
