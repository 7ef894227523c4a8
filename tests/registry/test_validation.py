"""Bad input: every entry point names the field at fault, embedded and remote alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.registry.registry_testing import log_classifier

import mloop
from mloop.core.errors import ConflictError, NotFoundError, ValidationError

Data = tuple[pd.DataFrame, pd.Series]
BAD_NAMES = ["a/b", "..", ".hidden", "", "x" * 300, "a b", "-x", "na\x00me", "über", "a@b", " x"]


@pytest.fixture
def churn(mode: str, data: Data, classifier: LogisticRegression) -> str:
    """A model ``churn`` with version 1 (alias ``champion``); returns the source run id."""
    features, _ = data
    run_id = log_classifier(classifier, features)
    mloop.register_model(f"runs:/{run_id}/model", "churn")
    mloop.set_alias("churn", "champion", 1)
    return run_id


def test_bad_model_names(mode: str) -> None:
    client = mloop.Client()
    for name in BAD_NAMES:
        with pytest.raises(ValidationError) as err:
            client.create_registered_model(name)
        assert err.value.field == "name", name
        with pytest.raises(ValidationError) as err:
            client.get_registered_model(name)
        assert err.value.field == "name", name
    assert list(client.list_registered_models()) == []


def test_unknown_model_version_and_alias(churn: str) -> None:
    client = mloop.Client()
    calls: list[tuple[str, Any]] = [
        ("name", lambda: client.get_registered_model("nope")),
        ("name", lambda: client.get_model_version("nope", 1)),
        ("name", lambda: client.list_model_versions("nope")),
        ("name", lambda: client.set_alias("nope", "champion", 1)),
        ("name", lambda: client.delete_registered_model("nope")),
        ("name", lambda: client.set_model_version_tag("nope", 1, "k", "v")),
        ("name", lambda: client.create_model_version("nope", f"runs:/{churn}/model")),
        ("name", lambda: mloop.load_model("models:/nope/1")),
        ("version", lambda: client.get_model_version("churn", 7)),
        ("version", lambda: client.set_alias("churn", "champion", 7)),
        ("version", lambda: client.delete_model_version("churn", 7)),
        ("version", lambda: client.list_model_version_files("churn", 7)),
        ("version", lambda: mloop.load_model("models:/churn/7")),
        ("alias", lambda: client.get_model_version_by_alias("churn", "missing")),
        ("alias", lambda: client.delete_alias("churn", "missing")),
        ("alias", lambda: mloop.load_model("models:/churn@missing")),
        ("key", lambda: client.delete_registered_model_tag("churn", "missing")),
        ("key", lambda: client.delete_model_version_tag("churn", 1, "missing")),
    ]
    for field, call in calls:
        with pytest.raises(NotFoundError) as err:
            call()
        assert err.value.field == field, (field, err.value.message)


def test_bad_aliases(churn: str) -> None:
    for alias in ["3", "v3", "V12", "latest", "LATEST", "a/b", "", "x" * 300, "a.b", "é"]:
        with pytest.raises(ValidationError) as err:
            mloop.set_alias("churn", alias, 1)
        assert err.value.field == "alias", alias
        with pytest.raises(ValidationError) as err:
            mloop.get_model_version_by_alias("churn", alias)
        assert err.value.field == "alias", alias
    assert mloop.Client().get_registered_model("churn").aliases == {"champion": 1}


def test_bad_versions(churn: str) -> None:
    client = mloop.Client()
    bad: list[Any] = ["abc", 0, -1, True, 1.5, "1.5", "", "1e3", None, 10**12]
    for version in bad:
        with pytest.raises(ValidationError) as err:
            client.get_model_version("churn", version)
        assert err.value.field == "version", version
        with pytest.raises(ValidationError) as err:
            client.set_alias("churn", "champion", version)
        assert err.value.field == "version", version
    assert client.get_model_version("churn", "1").version == 1  # digit strings, as MLflow sends


def test_bad_sources(churn: str, tmp_path: Path) -> None:
    client = mloop.Client()
    missing_run = "0" * 32
    with mloop.start_run() as run:
        (tmp_path / "notes.txt").write_text("not a model")
        mloop.log_artifact(tmp_path / "notes.txt", "plain")
    cases: list[tuple[type[Exception], str, str, str | None]] = [
        (ValidationError, "source", "s3://bucket/model", None),
        (ValidationError, "source", "runs:/", None),
        (ValidationError, "source", f"runs:/{churn}/../../secrets", None),
        (ValidationError, "source", f"runs:/{churn}/model/\x00", None),
        (NotFoundError, "run_id", f"runs:/{missing_run}/model", None),
        (NotFoundError, "source", f"runs:/{churn}/nothing-here", None),
        (ValidationError, "source", f"runs:/{run.info.run_id}/plain", None),
        (ValidationError, "run_id", f"runs:/{churn}/model", run.info.run_id),
    ]
    for error, field, source, run_id in cases:
        with pytest.raises(error) as err:
            client.create_model_version("churn", source, run_id=run_id)
        assert err.value.field == field, (source, err.value.message)  # type: ignore[attr-defined]
    assert client.get_registered_model("churn").latest_version == 1


def test_tampered_model_in_a_run_is_not_registered(churn: str, tmp_path: Path) -> None:
    model_dir = mloop.Client().download_artifacts(churn, "model", tmp_path / "copy")
    meta = model_dir / "mloop-model.json"
    meta.write_text(meta.read_text().replace('"model.skops"', '"../../../mloop.db"'))
    with mloop.start_run() as run:
        mloop.log_artifacts(model_dir, "model")
    with pytest.raises(ValidationError) as err:
        mloop.Client().create_model_version("churn", f"runs:/{run.info.run_id}/model")
    assert err.value.field == "source" and "'..'" in err.value.message


def test_oversized_and_malformed_fields(churn: str) -> None:
    client = mloop.Client()
    with pytest.raises(ValidationError) as err:
        client.create_registered_model("big", description="d" * 70_000)
    assert err.value.field == "description"
    with pytest.raises(ValidationError) as err:
        client.create_registered_model("big", tags={"k": "v" * 9000})
    assert err.value.field == "tags.k"
    with pytest.raises(ValidationError) as err:
        client.create_registered_model("big", tags={"bad key!": "v"})
    assert err.value.field == "tags"
    with pytest.raises(ValidationError) as err:
        client.create_registered_model("big", tags={f"k{i}": "v" for i in range(1001)})
    assert err.value.field == "tags"
    with pytest.raises(ValidationError) as err:
        client.update_model_version("churn", 1, "d" * 70_000)
    assert err.value.field == "description"
    with pytest.raises(ValidationError) as err:
        client.list_registered_models(page_token="garbage")
    assert err.value.field == "page_token"
    with pytest.raises(ValidationError) as err:
        client.list_registered_models(max_results=0)
    assert err.value.field == "max_results"
    with pytest.raises(ValidationError) as err:
        client.set_model_version_tag("churn", 1, "../k", "v")
    assert err.value.field == "key"
    # Nothing half-written: the failed creations left no model behind.
    assert [m.name for m in client.list_registered_models()] == ["churn"]


def test_duplicate_names_conflict(churn: str) -> None:
    client = mloop.Client()
    for name in ("churn", "CHURN", "Churn"):
        with pytest.raises(ConflictError) as err:
            client.create_registered_model(name)
        assert err.value.field == "name"


def test_bad_model_uris(churn: str) -> None:
    for uri in ["models:/churn", "models:/churn/abc", "models:/churn/", "models:/@x", "s3://b/m"]:
        with pytest.raises(ValidationError) as err:
            mloop.load_model(uri)
        assert err.value.field == "model_uri", uri
    with pytest.raises(ValidationError) as err:
        mloop.load_model("models:/a/b@c")
    assert err.value.field == "model_uri"


def test_register_model_refuses_what_is_not_a_model(mode: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        mloop.register_model(str(tmp_path / "absent"), "m")
    assert err.value.field == "model_uri"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError) as err:
        mloop.register_model(tmp_path / "empty", "m")
    assert "mloop-model.json" in err.value.message
    with pytest.raises(NotFoundError, match=f"run {'0' * 32} does not exist"):
        mloop.register_model(f"runs:/{'0' * 32}/model", "m")
    # The model that register_model created for the failed version was removed again.
    assert list(mloop.Client().list_registered_models()) == []
