"""Dataset versions registered straight from an S3-compatible store (moto on loopback)."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

import mloop


def test_register_from_s3_matches_the_local_file(
    sdk: str, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    frame = pd.DataFrame({"id": range(1000), "amount": [i * 0.5 for i in range(1000)]})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.put_object(Bucket="mloop-test", Key="raw/2026-11/part-0.parquet", Body=buffer.getvalue())
    # s3fs (under fsspec) finds the endpoint the way every AWS SDK does.
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)

    remote = mloop.register_dataset("from-s3", "s3://mloop-test/raw/2026-11/part-0.parquet")
    assert remote.version == 1 and remote.row_count == 1000
    assert remote.source == "s3://mloop-test/raw/2026-11/part-0.parquet"

    local = tmp_path / "part-0.parquet"
    local.write_bytes(buffer.getvalue())
    again = mloop.register_dataset("from-s3", local)
    assert (again.version, again.digest, again.created) == (1, remote.digest, False)
    assert mloop.get_dataset("from-s3").to_pandas()["amount"].sum() == frame["amount"].sum()
