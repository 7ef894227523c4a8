"""Versioned datasets through the SDK, embedded and through a real server (``sdk``)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import mloop
from mloop.core.errors import DataContractError, NotFoundError, ValidationError

CONTRACT = """\
contract: transactions
version: 2
columns:
  id: {type: int, nullable: false, unique: true}
  amount: {type: float, min: 0}
  country: {type: string, allowed: [DE, FR, US]}
distribution:
  - {column: amount, mean_within: 0.5}
"""


def frame(n: int = 50, seed: int = 1, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n, dtype="int64"),
            "amount": rng.uniform(1, 100, n).round(2) + shift,
            "country": rng.choice(["DE", "FR", "US"], n),
        }
    )


@pytest.fixture
def contract_file(tmp_path: Path) -> Path:
    path = tmp_path / "transactions.yaml"
    path.write_text(CONTRACT)
    return path


def _versions(name: str) -> list[int]:
    return [v.version for v in mloop.Client().list_dataset_versions(name)]


def test_same_content_same_version_new_content_next_version(sdk: str) -> None:
    df = frame()
    v1 = mloop.register_dataset("tx", df, description="card transactions")
    assert (v1.version, v1.created, v1.row_count) == (1, True, 50)
    assert v1.schema == [
        {"name": "id", "type": "int64", "nullable": True},
        {"name": "amount", "type": "double", "nullable": True},
        {"name": "country", "type": "string", "nullable": True},
    ]
    assert len(v1.digest) == 64 and v1.size > 0
    assert hashlib.sha256(v1.path.read_bytes()).hexdigest() == v1.digest

    # The same data as pandas, Polars, Arrow stream with other batches: the same bytes.
    import polars as pl

    table = pa.Table.from_pandas(df, preserve_index=False)
    again = [
        mloop.register_dataset("tx", df.copy()),
        mloop.register_dataset("tx", pl.from_pandas(df)),
        mloop.register_dataset(
            "tx", pa.RecordBatchReader.from_batches(table.schema, table.to_batches(7))
        ),
    ]
    assert [(v.version, v.created, v.digest) for v in again] == [(1, False, v1.digest)] * 3

    v2 = mloop.register_dataset("tx", frame(seed=2))
    assert (v2.version, v2.created) == (2, True) and v2.digest != v1.digest
    assert _versions("tx") == [2, 1]
    dataset = mloop.Client().get_dataset("tx")
    assert dataset.latest_version == 2 and dataset.version_count == 2
    assert dataset.description == "card transactions"
    assert dataset.latest is not None and dataset.latest.row_count == 50


def test_round_trip_and_references(sdk: str, tmp_path: Path) -> None:
    df = frame()
    df["when"] = pd.date_range("2024-01-01", periods=len(df), freq="h")
    df["kind"] = pd.Categorical(["a", "b"] * 25)
    mloop.register_dataset("tx", df)
    mloop.register_dataset("tx", frame(seed=3))

    first = mloop.get_dataset("tx/1")
    pd.testing.assert_frame_equal(first.to_pandas(), df)
    assert first.to_arrow().num_rows == 50
    assert mloop.get_dataset("tx").version == 2
    assert mloop.get_dataset("tx/latest").version == 2
    profile = first.profile
    assert profile.row_count == 50
    assert profile.column("amount").mean == pytest.approx(df["amount"].mean())
    assert profile.column("country").kind == "categorical"

    # A fresh cache downloads the file again and checks its digest.
    for cached in first.path.parent.glob("*.parquet"):
        cached.unlink()
    again = mloop.get_dataset("tx/1")
    pd.testing.assert_frame_equal(again.to_pandas(), df)
    out = mloop.Client().download_dataset_version("tx", 1, tmp_path / "x" / "copy.parquet")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == first.digest

    for ref, field in [("tx/0", "dataset"), ("tx/abc", "dataset"), ("a b", "dataset")]:
        with pytest.raises(ValidationError) as err:
            mloop.get_dataset(ref)
        assert err.value.field == field
    with pytest.raises(NotFoundError) as missing:
        mloop.get_dataset("tx/9")
    assert missing.value.field == "version"
    with pytest.raises(NotFoundError) as missing:
        mloop.get_dataset("nope")
    assert missing.value.field == "name"
    with pytest.raises(NotFoundError) as missing:
        mloop.get_dataset("tx@golden")
    assert missing.value.field == "alias"


def test_csv_parquet_and_url_inputs(sdk: str, tmp_path: Path) -> None:
    df = frame()
    csv = tmp_path / "tx.csv"
    df.to_csv(csv, index=False)
    parquet = tmp_path / "tx.parquet"
    df.to_parquet(parquet, index=False)
    from_csv = mloop.register_dataset("tx", csv)
    assert from_csv.source == str(csv)
    pd.testing.assert_frame_equal(from_csv.to_pandas(), df)
    # Parquet written by pandas, and the frame itself, give the same stored bytes.
    from_parquet = mloop.register_dataset("tx", parquet)
    assert (from_parquet.version, from_parquet.created) == (1, False)
    assert mloop.register_dataset("tx", df).digest == from_csv.digest

    part = tmp_path / "parts"
    for country in ("DE", "FR"):
        (part / f"country={country}").mkdir(parents=True)
        df[df.country == country].drop(columns="country").to_parquet(
            part / f"country={country}" / "0.parquet", index=False
        )
    partitioned = mloop.register_dataset("tx-parts", part, source="warehouse export")
    assert partitioned.source == "warehouse export"
    assert partitioned.row_count == int((df.country != "US").sum())
    assert [c["name"] for c in partitioned.schema] == ["id", "amount", "country"]

    import fsspec

    with fsspec.open("memory://bucket/tx.parquet", "wb") as handle:
        df.to_parquet(handle, index=False)
    from_url = mloop.register_dataset("tx-url", "memory://bucket/tx.parquet")
    assert from_url.digest == from_csv.digest and from_url.source == "memory://bucket/tx.parquet"

    with pytest.raises(NotFoundError, match=r"no such file or directory: .*missing\.parquet"):
        mloop.register_dataset("tx", tmp_path / "missing.parquet")
    with pytest.raises(ValidationError) as bad:
        mloop.register_dataset("tx", {"not": "a table"})
    assert bad.value.field == "data"
    with pytest.raises(ValidationError) as bad:
        mloop.register_dataset("../evil", df)
    assert bad.value.field == "name"


def test_aliases_and_their_history(sdk: str) -> None:
    v1 = mloop.register_dataset("tx", frame(), alias="golden-test")
    assert v1.aliases == ["golden-test"]
    mloop.register_dataset("tx", frame(seed=2))
    assert mloop.get_dataset("tx@golden-test").version == 1
    mloop.set_dataset_alias("tx", "golden-test", 2)
    mloop.set_dataset_alias("tx", "training", 1)
    assert mloop.get_dataset("tx@golden-test").version == 2
    # Registering known content with an alias moves the alias to that version.
    assert mloop.register_dataset("tx", frame(), alias="golden-test").version == 1
    mloop.delete_dataset_alias("tx", "training")
    client = mloop.Client()
    assert client.get_dataset("tx").aliases == {"golden-test": 1}
    history = client.get_dataset_alias_history("tx")
    moves = [(h.alias, h.from_version, h.to_version) for h in history]
    assert moves == [
        ("golden-test", None, 1),
        ("golden-test", 1, 2),
        ("training", None, 1),
        ("golden-test", 2, 1),
        ("training", 1, None),
    ]
    assert len(client.get_dataset_alias_history("tx", alias="training")) == 2
    for bad in ("latest", "3", "v3", "a/b", ""):
        with pytest.raises(ValidationError) as err:
            mloop.set_dataset_alias("tx", bad, 1)
        assert err.value.field == "alias"
    with pytest.raises(NotFoundError) as err:
        mloop.set_dataset_alias("tx", "x", 7)
    assert err.value.field == "version"
    with pytest.raises(NotFoundError, match="dataset 'tx' has no alias 'training'"):
        mloop.delete_dataset_alias("tx", "training")

    client.delete_dataset_version("tx", 1)
    assert client.get_dataset("tx").aliases == {}
    assert client.get_dataset_alias_history("tx")[-1].to_version is None
    with pytest.raises(NotFoundError, match="was deleted"):
        mloop.get_dataset("tx/1")
    # The number is not reused; the same content comes back as a new version.
    assert mloop.register_dataset("tx", frame()).version == 3


def test_required_policy_refuses_bad_data_and_stores_nothing(
    sdk: str, contract_file: Path, settings: object
) -> None:
    dataset = mloop.set_dataset_policy("tx", contract_file)
    assert dataset.policy is not None
    assert (dataset.policy.contract_name, dataset.policy.contract_version) == ("transactions", "2")
    assert dataset.policy.required and dataset.policy.contract_yaml == CONTRACT
    first = mloop.register_dataset("tx", frame())
    assert first.info.latest_validation is not None and first.info.latest_validation.passed
    # A first version has nothing to compare distributions with: that check is skipped.
    (stored,) = first.validations(include_reports=True)
    assert stored.report is not None
    assert {c["name"]: c["status"] for c in stored.report["checks"]}["amount.mean"] == "skipped"
    assert stored.contract_yaml == CONTRACT

    corrupted = frame(seed=5)
    corrupted.loc[3, "amount"] = -10.0
    corrupted.loc[4, "country"] = "XX"
    with pytest.raises(DataContractError) as err:
        mloop.register_dataset("tx", corrupted)
    assert "amount.min" in err.value.message and "Nothing was stored" in err.value.message
    report = err.value.report
    assert report is not None and not report.passed
    assert report.check("amount.min").examples[0]["amount"] == -10.0
    assert report.check("country.allowed").failing_count == 1

    shifted = frame(seed=6, shift=500.0)  # the mean moves far from version 1's
    with pytest.raises(DataContractError) as err:
        mloop.register_dataset("tx", shifted)
    assert err.value.report.check("amount.mean").status == "failed"

    client = mloop.Client()
    assert _versions("tx") == [1]
    assert len(client.list_dataset_validations("tx")) == 1
    uploads = Path(mloop.get_tracking_uri()).joinpath("artifacts", "datasets", "_uploads")
    if sdk == "embedded":
        assert not uploads.exists() or not any(uploads.iterdir())

    # The server enforces the policy too: a version without a passing validation is refused.
    good = frame(seed=7)
    from mloop.datasets.parquet import write_canonical

    written = write_canonical(good, Path(str(contract_file) + ".parquet"))
    upload = client.upload_dataset_file("tx", written.digest, written.path)
    profile = {"format_version": 1, "row_count": 50, "columns": [{"name": c} for c in good]}
    with pytest.raises(DataContractError) as refused:
        client.create_dataset_version(
            "tx", upload.upload_id, written.digest, 50, written.schema, profile
        )
    assert refused.value.field == "validations" and "transactions" in refused.value.message
    assert _versions("tx") == [1]

    # An optional policy records the failure and registers anyway, with a warning.
    mloop.set_dataset_policy("tx", CONTRACT, required=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v2 = mloop.register_dataset("tx", corrupted)
    assert v2.version == 2 and any("optional" in str(w.message) for w in caught)
    assert v2.info.latest_validation is not None and not v2.info.latest_validation.passed
    assert client.delete_dataset_policy("tx").policy is None
    assert settings is not None


def test_a_long_contract_given_as_text_is_stored_as_text(sdk: str) -> None:
    # Longer than a file name may be: looking it up as a path must not fail (ENAMETOOLONG).
    long_contract = CONTRACT + "".join(f"# note {i}: {'x' * 60}\n" for i in range(10))
    mloop.register_dataset("tx", frame())
    dataset = mloop.set_dataset_policy("tx", long_contract)
    assert dataset.policy is not None and dataset.policy.contract_yaml == long_contract


def test_explicit_contract_and_stored_validations(sdk: str, contract_file: Path) -> None:
    from mloop.data import Column, Contract

    v1 = mloop.register_dataset("tx", frame(), contract=contract_file)
    assert v1.info.latest_validation is not None
    assert v1.info.latest_validation.contract_name == "transactions"
    # A Python contract is accepted too, and checked again for content already registered.
    python_contract = Contract(name="ids", columns={"id": Column(nullable=False)})
    again = mloop.register_dataset("tx", frame(), contract=python_contract)
    assert (again.version, again.created) == (1, False)
    validations = again.validations()
    assert [v.contract_name for v in validations] == ["ids", "transactions"]
    assert validations[0].contract_yaml is None

    bad = frame(seed=2)
    bad.loc[0, "id"] = 1  # a duplicate id
    with pytest.raises(DataContractError) as err:
        mloop.register_dataset("tx", bad, contract=contract_file)
    assert err.value.report.check("id.unique").failing_count == 2
    assert _versions("tx") == [1]

    # validate_dataset checks a stored version and records the result, failed or not.
    strict = contract_file.with_name("strict.yaml")
    strict.write_text("contract: strict\nrows: {min: 1000}\n")
    report = mloop.validate_dataset("tx/1", strict)
    assert not report.passed
    client = mloop.Client()
    newest = client.list_dataset_validations("tx", 1, include_reports=True)[0]
    assert newest.contract_name == "strict" and not newest.passed and newest.errors == 1
    assert newest.report is not None and newest.report["checks"][0]["name"] == "row_count"
    full = client.get_dataset_validation(newest.id)
    assert full.report == newest.report and full.contract_yaml == strict.read_text()
    assert len(client.list_dataset_validations("tx")) == 3

    with pytest.raises(NotFoundError) as err:
        mloop.register_dataset("tx", frame(), contract=contract_file.with_name("nope.yaml"))
    assert err.value.field == "contract"
    with pytest.raises(
        ValidationError, match=r"columns\.a\.maxx: unknown check 'maxx' \(did you mean 'max'\?\)"
    ):
        mloop.set_dataset_policy("tx", "contract: x\ncolumns:\n  a: {maxx: 1}\n")


def test_lineage_and_training_data_of_model_versions(sdk: str, contract_file: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    import mloop.sklearn

    mloop.set_dataset_policy("train", contract_file)
    with mloop.start_run() as producer:
        v1 = mloop.register_dataset("train", frame(), alias="golden-test")
    assert v1.run_id == producer.info.run_id
    other = mloop.register_dataset("holdout", frame(seed=9))  # no run, no contract

    with mloop.start_run() as trainer:
        train = mloop.get_dataset("train@golden-test")
        holdout = mloop.get_dataset("holdout", context="evaluation")
        df = train.to_pandas()
        model = LogisticRegression().fit(df[["amount"]], df["country"] == "DE")
        mloop.sklearn.log_model(
            model, "model", input_example=df[["amount"]].head(2), registered_model_name="m"
        )
    with mloop.start_run() as reader:
        mloop.get_dataset("train/1")

    client = mloop.Client()
    lineage = client.get_dataset_lineage("train", 1)
    assert lineage.producer is not None and lineage.producer.run_id == producer.info.run_id
    assert [r.run_id for r in lineage.read_by] == [reader.info.run_id, trainer.info.run_id]
    assert lineage.read_by[1].contexts == ["training"]
    assert client.get_dataset_lineage("holdout", 1).producer is None
    inputs = client.get_run(trainer.info.run_id).inputs
    assert {(i.name, i.source) for i in inputs} == {
        ("train", "mloop-dataset:train/1"),
        ("holdout", "mloop-dataset:holdout/1"),
    }

    version = client.get_model_version("m", 1)
    by_name = {d["name"]: d for d in version.training_data}
    assert by_name["train"] == {
        "name": "train",
        "version": 1,
        "digest": train.digest,
        "context": "training",
        "contract_name": "transactions",
        "contract_version": "2",
        "contract_digest": client.get_dataset("train").policy.contract_digest,  # type: ignore[union-attr]
        "validation_id": train.info.latest_validation.id,  # type: ignore[union-attr]
    }
    assert by_name["holdout"]["context"] == "evaluation"
    assert by_name["holdout"]["digest"] == other.digest == holdout.digest
    assert by_name["holdout"]["contract_name"] is None
