"""Artifact storage: local directory and a real S3-compatible server on loopback."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import mloop
from mloop.core.errors import NotFoundError, PayloadTooLargeError, ValidationError
from mloop.store.artifacts import ArtifactStore, clean_relative_path


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return ArtifactStore(str(tmp_path / "root"))
    endpoint = request.getfixturevalue("s3_endpoint")
    return ArtifactStore(f"s3://mloop-test/{tmp_path.name}", s3_endpoint_url=endpoint)


def test_put_get_list_walk(store: ArtifactStore) -> None:
    stored = store.put_bytes("a/b/c.txt", b"hello")
    assert stored.sha256 == hashlib.sha256(b"hello").hexdigest() and stored.size == 5
    store.put_stream("a/d.bin", io.BytesIO(b"\x00" * 3_000_000))
    with store.open("a/b/c.txt") as handle:
        assert handle.read() == b"hello"
    listing = store.list_dir("a")
    assert [(e.path, e.is_dir) for e in listing] == [("a/b", True), ("a/d.bin", False)]
    assert [e.path for e in store.walk("a")] == ["a/b/c.txt", "a/d.bin"]
    with pytest.raises(NotFoundError, match=r"artifact 'a/missing\.txt' does not exist"):
        store.open("a/missing.txt")


def test_copy_tree_and_download(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes("src/x/1.txt", b"1")
    store.put_bytes("src/2.txt", b"2")
    store.copy_tree("src", "dst")
    assert [e.path for e in store.walk("dst")] == ["dst/2.txt", "dst/x/1.txt"]
    out = store.download_tree("dst", tmp_path / "out")
    assert (out / "x" / "1.txt").read_bytes() == b"1"


def test_move_replaces_the_target(store: ArtifactStore) -> None:
    store.put_bytes("up/x.bin", b"new")
    store.put_bytes("final/1/data.bin", b"old")
    store.move("up/x.bin", "final/1/data.bin")
    with store.open("final/1/data.bin") as handle:
        assert handle.read() == b"new"
    assert not store.exists("up/x.bin")
    store.move("final/1/data.bin", "other/2/data.bin")  # into a directory that did not exist
    assert store.exists("other/2/data.bin") and not store.exists("final/1/data.bin")
    with pytest.raises(NotFoundError, match=r"artifact 'up/x\.bin' does not exist"):
        store.move("up/x.bin", "final/1/data.bin")
    with pytest.raises(ValidationError, match=r"path '\.\./escape\.bin' must not contain '\.\.'"):
        store.move("other/2/data.bin", "../escape.bin")


def test_failed_write_leaves_nothing(store: ArtifactStore) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"x" * 100
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError, match="client went away"):
        store.put_chunks("partial.bin", chunks())
    assert not store.exists("partial.bin")
    assert store.list_dir("") == []
    with pytest.raises(
        PayloadTooLargeError, match=r"artifact 'big\.bin' exceeds the limit of 15 bytes"
    ):
        store.put_chunks("big.bin", iter([b"x" * 10, b"y" * 10]), max_bytes=15)
    assert not store.exists("big.bin")


def test_overwrite_is_atomic_replacement(store: ArtifactStore) -> None:
    store.put_bytes("f.txt", b"old")
    store.put_bytes("f.txt", b"new")
    with store.open("f.txt") as handle:
        assert handle.read() == b"new"


@pytest.mark.parametrize("bad", ["../x", "/abs", "a/../../x", "a\\b", "nul\x00", "C:/win"])
def test_paths_that_escape_are_refused(store: ArtifactStore, bad: str) -> None:
    with pytest.raises(ValidationError, match=r"^path .*must (not contain|be relative)"):
        store.put_bytes(bad, b"x")
    with pytest.raises(ValidationError, match=r"^path .*must (not contain|be relative)"):
        clean_relative_path(bad)


def test_symlink_out_of_local_root_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (tmp_path / "root" / "link").symlink_to(outside)
    with pytest.raises(ValidationError, match="outside"):
        store.open("link/secret.txt")
    with pytest.raises(ValidationError, match="outside"):
        store.put_bytes("link/new.txt", b"x")
    assert not (outside / "new.txt").exists()


def test_tracking_sdk_on_s3(settings, s3_endpoint: str, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from mloop.client import connection

    monkeypatch.setenv("MLOOP_ARTIFACT_ROOT", f"s3://mloop-test/{tmp_path.name}-sdk")
    monkeypatch.setenv("MLOOP_S3_ENDPOINT_URL", s3_endpoint)
    connection.close_all()
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "w.bin").write_bytes(os.urandom(50_000))
    with mloop.start_run() as run:
        mloop.log_artifacts(tree, "model")
    client = mloop.Client()
    files = client.list_artifacts(run.info.run_id, "model/sub")
    assert files[0].sha256 == hashlib.sha256((tree / "sub" / "w.bin").read_bytes()).hexdigest()
    out = client.download_artifacts(run.info.run_id, "model", tmp_path / "dl")
    assert (out / "sub" / "w.bin").read_bytes() == (tree / "sub" / "w.bin").read_bytes()
    assert dataclasses.is_dataclass(settings)


def test_dataset_versions_on_s3(settings, s3_endpoint: str, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from mloop.client import connection

    monkeypatch.setenv("MLOOP_ARTIFACT_ROOT", f"s3://mloop-test/{tmp_path.name}-ds")
    monkeypatch.setenv("MLOOP_S3_ENDPOINT_URL", s3_endpoint)
    connection.close_all()
    df = pd.DataFrame({"id": range(1000), "x": [i / 7 for i in range(1000)]})
    version = mloop.register_dataset("on-s3", df)
    assert version.version == 1 and version.created
    version.path.unlink()  # read it back from S3, not from the cache
    back = mloop.get_dataset("on-s3/1").to_pandas()
    pd.testing.assert_frame_equal(back, df)
    store = ArtifactStore(f"s3://mloop-test/{tmp_path.name}-ds", s3_endpoint_url=s3_endpoint)
    assert [e.path for e in store.walk("datasets")] == ["datasets/on-s3/1/data.parquet"]
    assert dataclasses.is_dataclass(settings)
