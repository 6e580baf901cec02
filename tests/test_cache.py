"""Configuration-keyed artifact cache."""

import pytest

from icepaper.core.cache import cache_path, cached_dir, key_hash


def test_builds_once_and_reuses(tmp_path):
    calls = []

    def build(d):
        calls.append(d)
        (d / "a.txt").write_text("x")

    p1 = cached_dir("emb", {"ckpt": "abc", "n": 3}, build, root=tmp_path)
    p2 = cached_dir("emb", {"n": 3, "ckpt": "abc"}, build, root=tmp_path)
    assert p1 == p2 and len(calls) == 1 and (p1 / "a.txt").read_text() == "x"
    assert cached_dir("emb", {"ckpt": "abd", "n": 3}, build, root=tmp_path) != p1


def test_failed_build_leaves_nothing(tmp_path):
    def build(d):
        (d / "partial").write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cached_dir("ckpt", {"k": 1}, build, root=tmp_path)
    assert not cache_path("ckpt", {"k": 1}, root=tmp_path).exists()
    assert len(key_hash({"k": 1})) == 16
