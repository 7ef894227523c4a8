"""The registry workflow through the SDK, embedded and through a real server."""

from __future__ import annotations

import getpass
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from tests.registry.registry_testing import log_classifier

import mloop
from mloop.core.errors import NotFoundError

Data = tuple[pd.DataFrame, pd.Series]


def _actor(mode: str) -> str:
    return getpass.getuser() if mode == "embedded" else "anonymous"


def test_register_and_manage_versions(
    mode: str, data: Data, classifier: LogisticRegression
) -> None:
    features, _ = data
    client = mloop.Client()
    run_id = log_classifier(classifier, features, metric=0.93)
    model = client.create_registered_model("churn", description="first", tags={"team": "risk"})
    assert model.latest_version is None and model.aliases == {}

    v1 = mloop.register_model(f"runs:/{run_id}/model", "churn", description="v1", tags={"k": 1})
    v2 = client.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.run_id == run_id and v1.source == f"runs:/{run_id}/model"
    assert v1.flavor == "sklearn" and v1.status == "READY" and len(v1.sha256) == 64
    assert v1.sha256 == v2.sha256  # same files, same digest
    assert v1.metrics == {"accuracy": pytest.approx(0.93)}
    assert v1.tags == {"k": "1"} and v1.description == "v1"
    assert v1.signature is not None
    assert [c["name"] for c in v1.signature["inputs"]["columns"]] == ["a", "b", "c"]
    assert v1.user_id == _actor(mode)

    got = client.get_registered_model("churn")
    assert got.latest_version == 2 and got.tags == {"team": "risk"}
    assert client.call("get_registered_model", name="churn") == got
    assert [v.version for v in client.list_model_versions("churn")] == [2, 1]
    assert sorted(client.list_model_version_files("churn", 1)) == [
        "input_example.json",
        "mloop-model.json",
        "model.skops",
    ]

    client.update_registered_model("churn", "updated")
    client.update_model_version("churn", "2", "second")
    client.set_registered_model_tag("churn", "owner", "ana")
    client.delete_registered_model_tag("churn", "team")
    client.set_model_version_tag("churn", 2, "validated", True)
    client.delete_model_version_tag("churn", 1, "k")
    got = client.get_registered_model("churn")
    assert got.description == "updated" and got.tags == {"owner": "ana"}
    assert client.get_model_version("churn", 2).description == "second"
    assert client.get_model_version("churn", 2).tags == {"validated": "True"}
    assert client.get_model_version("churn", 1).tags == {}

    client.create_registered_model("fraud")
    page = client.list_registered_models(max_results=1)
    assert [m.name for m in page] == ["churn"] and page.next_page_token
    rest = client.list_registered_models(max_results=1, page_token=page.next_page_token)
    assert [m.name for m in rest] == ["fraud"] and rest.next_page_token is None
    assert [m.name for m in client.list_registered_models(name_contains="RAU")] == ["fraud"]


def test_alias_set_move_delete_with_history(
    mode: str, data: Data, classifier: LogisticRegression
) -> None:
    features, _ = data
    run_id = log_classifier(classifier, features)
    for _ in range(2):
        mloop.register_model(f"runs:/{run_id}/model", "churn")
    client = mloop.Client()

    mloop.set_alias("churn", "champion", 1)
    mloop.set_alias("churn", "challenger", 2)
    mloop.set_alias("churn", "champion", 2)  # a move
    mloop.set_alias("churn", "champion", 2)  # no change, not logged
    assert mloop.get_model_version_by_alias("churn", "champion").version == 2
    assert client.get_registered_model("churn").aliases == {"challenger": 2, "champion": 2}
    assert sorted(client.get_model_version("churn", 2).aliases) == ["challenger", "champion"]
    mloop.delete_alias("churn", "challenger")
    with pytest.raises(NotFoundError) as err:
        mloop.get_model_version_by_alias("churn", "challenger")
    assert err.value.field == "alias"

    history = client.get_alias_history("churn")
    moves = [(h.alias, h.from_version, h.to_version) for h in history]
    assert moves == [
        ("champion", None, 1),
        ("challenger", None, 2),
        ("champion", 1, 2),
        ("challenger", 2, None),
    ]
    assert all(h.actor == _actor(mode) and h.timestamp > 0 for h in history)
    assert [h.timestamp for h in history] == sorted(h.timestamp for h in history)
    only = client.get_alias_history("churn", alias="champion")
    assert [(h.from_version, h.to_version) for h in only] == [(None, 1), (1, 2)]

    # The audit trail outlives the model; the model's deletion is recorded in it.
    client.delete_registered_model("churn")
    with pytest.raises(NotFoundError, match="registered model 'churn' does not exist"):
        client.get_registered_model("churn")
    after = client.get_alias_history("churn")
    assert [(h.alias, h.from_version, h.to_version) for h in after][-1] == ("champion", 2, None)
    with pytest.raises(NotFoundError) as err:
        client.get_alias_history("never-existed")
    assert err.value.field == "name"


def test_load_by_version_alias_and_uri_predicts_like_the_original(
    mode: str, data: Data, classifier: LogisticRegression, settings: object
) -> None:
    features, _ = data
    run_id = log_classifier(classifier, features)
    version = mloop.register_model(f"runs:/{run_id}/model", "churn")
    mloop.set_alias("churn", "champion", 1)
    expected = classifier.predict(features)

    by_number = mloop.load_model("models:/churn/1")
    by_alias = mloop.load_model("models:/churn@champion")
    latest = mloop.load_model("models:/churn/latest")
    from_run = mloop.load_model(f"runs:/{run_id}/model")
    for loaded in (by_number, by_alias, latest, from_run):
        np.testing.assert_array_equal(loaded.predict(features), expected)
    np.testing.assert_allclose(by_alias.predict_proba(features), classifier.predict_proba(features))
    assert by_number.metadata.flavor == "sklearn" and by_number.metadata.serialization == "skops"
    # The cache is keyed by the version's digest, so both loads share one directory.
    assert by_number.path == by_alias.path
    assert by_number.path.name == version.sha256
    assert isinstance(mloop.sklearn.load_model("models:/churn@champion"), LogisticRegression)
    local = mloop.load_model(by_number.path)
    np.testing.assert_array_equal(local.predict(features), expected)


def test_repeated_load_reads_the_cache(
    mode: str, data: Data, classifier: LogisticRegression, monkeypatch: pytest.MonkeyPatch
) -> None:
    features, _ = data
    mloop.register_model(f"runs:/{log_classifier(classifier, features)}/model", "churn")
    mloop.load_model("models:/churn/1")
    backend = mloop.Client()._backend

    def _no_download(*args: object) -> Path:
        raise AssertionError("a cached version was downloaded again")

    monkeypatch.setattr(backend, "download", _no_download)
    mloop.load_model("models:/churn/1").predict(features)


def test_versions_are_immutable(mode: str, data: Data, tmp_path: Path) -> None:
    features, labels = data
    original = LogisticRegression(C=1.0).fit(features, labels)
    run_id = log_classifier(original, features)
    version = mloop.register_model(f"runs:/{run_id}/model", "churn")
    files_before = mloop.Client().list_model_version_files("churn", 1)

    # Overwrite the run's payload with a different model.
    other = LogisticRegression(C=1.0).fit(features, 1 - labels)
    mloop.sklearn.save_model(other, tmp_path / "other")
    client = mloop.Client()
    client.log_artifact(run_id, tmp_path / "other" / "model.skops", "model")
    changed = mloop.load_model(f"runs:/{run_id}/model")
    assert (changed.predict(features) != original.predict(features)).any()

    again = client.get_model_version("churn", 1)
    assert again.sha256 == version.sha256
    assert client.list_model_version_files("churn", 1) == files_before
    loaded = mloop.load_model("models:/churn/1")
    np.testing.assert_array_equal(loaded.predict(features), original.predict(features))
    assert mloop.register_model(f"runs:/{run_id}/model", "churn").sha256 != version.sha256


def test_deleting_a_version_removes_its_aliases_and_logs_it(
    mode: str, data: Data, classifier: LogisticRegression
) -> None:
    features, _ = data
    run_id = log_classifier(classifier, features)
    for _ in range(2):
        mloop.register_model(f"runs:/{run_id}/model", "churn")
    client = mloop.Client()
    client.set_alias("churn", "champion", 1)
    client.set_alias("churn", "stable", 1)
    client.set_alias("churn", "challenger", 2)

    client.delete_model_version("churn", 1)
    assert client.get_registered_model("churn").aliases == {"challenger": 2}
    with pytest.raises(NotFoundError) as err:
        client.get_model_version("churn", 1)
    assert err.value.field == "version" and "deleted" in err.value.message
    with pytest.raises(NotFoundError, match="version 1 of model 'churn' was deleted"):
        client.download_model_version("churn", 1)
    tail = [(h.alias, h.from_version, h.to_version) for h in client.get_alias_history("churn")][-2:]
    assert tail == [("champion", 1, None), ("stable", 1, None)]
    assert [v.version for v in client.list_model_versions("churn")] == [2]
    # Numbers are never reused: models:/churn/1 cannot come to mean something else.
    assert mloop.register_model(f"runs:/{run_id}/model", "churn").version == 3
    client.delete_model_version("churn", 3)
    assert client.get_registered_model("churn").latest_version == 2


def test_concurrent_versions_are_numbered_without_gaps(
    mode: str, data: Data, classifier: LogisticRegression
) -> None:
    features, _ = data
    run_id = log_classifier(classifier, features)
    client = mloop.Client()
    client.create_registered_model("churn")
    numbers: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def _create() -> None:
        try:
            barrier.wait()
            numbers.append(client.create_model_version("churn", f"runs:/{run_id}/model").version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=_create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [1, 2, 3, 4]
    assert {v.sha256 for v in client.list_model_versions("churn")} == {
        client.get_model_version("churn", 1).sha256
    }


def test_register_a_local_directory(
    mode: str, data: Data, classifier: LogisticRegression, tmp_path: Path
) -> None:
    features, _ = data
    mloop.sklearn.save_model(classifier, tmp_path / "m", input_example=features.iloc[:3])
    version = mloop.register_model(str(tmp_path / "m"), "local-model")
    assert version.version == 1 and version.run_id
    run = mloop.Client().get_run(version.run_id)
    assert run.info.run_name == "register-local-model" and run.info.status == "FINISHED"
    loaded = mloop.load_model("models:/local-model/1")
    np.testing.assert_array_equal(loaded.predict(features), classifier.predict(features))


def test_log_model_registers_when_named(
    mode: str, data: Data, classifier: LogisticRegression
) -> None:
    features, _ = data
    with mloop.start_run():
        mloop.log_metric("f1", 0.5)
        info = mloop.sklearn.log_model(
            classifier, "clf", input_example=features.iloc[:2], registered_model_name="auto"
        )
    assert info.model_uri == f"runs:/{info.run_id}/clf"
    assert info.registered_model_version is not None
    assert info.registered_model_version.version == 1
    assert info.registered_model_version.metrics == {"f1": pytest.approx(0.5)}
