"""Models that run code when loaded: refused without trust; their code never hides modules."""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

import mloop
from mloop.core.config import Settings
from mloop.core.errors import ValidationError

_MARKED_SOURCE = """
from pathlib import Path

import mloop

Path({marker!r}).write_text("imported")


class Marked(mloop.PythonModel):
    def load_context(self, context):
        Path({marker!r}).write_text("load_context")

    def predict(self, model_input):
        return [value + 1 for value in model_input]
"""


def _module_from(path: Path) -> object:
    """Import a file as a module without putting its folder on sys.path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def test_code_model_is_refused_without_trust_and_nothing_runs(
    mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "marker.txt"
    source = tmp_path / f"marked_{uuid.uuid4().hex[:8]}.py"
    source.write_text(_MARKED_SOURCE.format(marker=str(marker)))
    module = _module_from(source)
    with mloop.start_run():
        mloop.pyfunc.log_model(
            "model", module.Marked, code_paths=[source], registered_model_name="marked"
        )
    # Forget the class, its file and the marker: only the model's copy of the code remains.
    monkeypatch.delitem(sys.modules, source.stem)
    source.unlink()
    marker.unlink()

    for load in (mloop.load_model, mloop.pyfunc.load_model):
        with pytest.raises(ValidationError) as err:
            load("models:/marked/1")
        assert err.value.field == "trusted"
        assert "models:/marked/1" in err.value.message
        assert "mloop.load_model('models:/marked/1', trusted=True)" in err.value.message
        assert f"{source.stem}:Marked" in err.value.message
    with pytest.raises(ValidationError) as err:
        mloop.load_model("models:/marked/1", trusted=[f"{source.stem}.Marked"])
    assert err.value.field == "trusted"
    assert not marker.exists()  # neither the module nor load_context ran

    loaded = mloop.load_model("models:/marked/1", trusted=True)
    assert loaded.predict([1, 2]) == [2, 3]
    assert marker.read_text() == "load_context"
    assert source.stem not in sys.modules  # imported under the model's private package


def test_a_model_class_from_an_installed_module_needs_trust_too(
    settings: Settings, tmp_path: Path
) -> None:
    # The model file chooses which class is created and what load_context does.
    mloop.pyfunc.save_model(tmp_path / "m", _Identity)
    with pytest.raises(ValidationError) as err:
        mloop.load_model(tmp_path / "m")
    assert err.value.field == "trusted" and str(tmp_path / "m") in err.value.message
    assert mloop.load_model(tmp_path / "m", trusted=True).predict([1]) == [1]


class _Identity(mloop.PythonModel):
    def predict(self, model_input: object) -> object:
        return model_input


_SHADOW_SOURCE = """
import colorsys
from {helpers}.scale import factor

import mloop


class Shadowing(mloop.PythonModel):
    def predict(self, model_input):
        import colorsys as lazy  # an import inside a method sees the model's files too

        return [colorsys.MARK, lazy.MARK, factor()]
"""


def _shadowing_model(root: Path, mark: str) -> Path:
    """A model bundling colorsys.py and a package, whose class imports both by absolute name."""
    code = root / "src"
    helpers = f"helpers_{uuid.uuid4().hex[:8]}"
    (code / helpers).mkdir(parents=True)
    (code / helpers / "__init__.py").write_text("")
    (code / helpers / "scale.py").write_text(f"def factor():\n    return {mark!r}\n")
    (code / "colorsys.py").write_text(f"MARK = {mark!r}\n")
    source = code / f"shadowing_{uuid.uuid4().hex[:8]}.py"
    source.write_text(_SHADOW_SOURCE.format(helpers=helpers))
    # Saving needs only the class's name; a stand-in keeps this process from importing it.
    stand_in = type("Shadowing", (_Identity,), {"__module__": source.stem})
    paths = [code / "colorsys.py", code / helpers, source]
    mloop.pyfunc.save_model(root / "model", stand_in, code_paths=paths)
    return root / "model"


def test_bundled_code_does_not_shadow_the_standard_library(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _shadowing_model(tmp_path / "a", "first")
    second = _shadowing_model(tmp_path / "b", "second")
    # colorsys not imported yet: whoever imports it next must get the standard library's.
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    path_before, modules_before = list(sys.path), set(sys.modules)

    loaded = mloop.load_model(first, trusted=True)
    assert loaded.predict([0]) == ["first", "first", "first"]
    import colorsys

    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert not hasattr(colorsys, "MARK")
    assert Path(str(colorsys.__file__)).resolve().parent == stdlib
    assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert sys.path == path_before
    # Another model with its own colorsys.py sees its own, not the first model's.
    assert mloop.load_model(second, trusted=True).predict([0]) == ["second"] * 3
    assert sys.modules["colorsys"] is colorsys and sys.path == path_before
    # The model's modules are registered under private names only.
    added = set(sys.modules) - modules_before
    from_models = {
        n for n in added if str(tmp_path) in str(getattr(sys.modules[n], "__file__", ""))
    }
    assert len(from_models) == 2 * 4, from_models  # colorsys, the package, its module, the class
    assert all(name.startswith("_mloop_model_") for name in from_models), from_models


def _mlflow_model(path: Path, code_paths: list[Path]) -> Path:
    import mlflow.pyfunc

    def predict(self: object, context: object, model_input: list[int]) -> list[int]:
        return model_input

    echo = type("Echo", (mlflow.pyfunc.PythonModel,), {"predict": predict})
    paths = [str(p) for p in code_paths]
    mlflow.pyfunc.save_model(path, python_model=echo(), code_paths=paths, pip_requirements=[])
    return path


def test_mlflow_model_code_is_trusted_and_cannot_hide_a_module(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "src"
    code.mkdir()
    (code / "colorsys.py").write_text("MARK = 'bundled'\n")
    helper = code / f"helper_{uuid.uuid4().hex[:8]}.py"
    helper.write_text("VALUE = 1\n")
    hiding = _mlflow_model(tmp_path / "hiding", [code / "colorsys.py", helper])
    plain = _mlflow_model(tmp_path / "plain", [helper])
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    path_before = list(sys.path)

    with pytest.raises(ValidationError) as err:
        mloop.load_model(plain)
    assert err.value.field == "trusted" and str(plain) in err.value.message
    with pytest.raises(ValidationError) as err:
        mloop.load_model(hiding, trusted=True)
    assert err.value.field == "MLmodel.code"
    assert "code/colorsys.py" in err.value.message and str(hiding) in err.value.message
    assert mloop.load_model(plain, trusted=True).predict([1, 2]) == [1, 2]
    assert sys.path == path_before
    import colorsys

    assert not hasattr(colorsys, "MARK")
