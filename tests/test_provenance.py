import os

from lmeqtl.book.provenance import (
    file_digests,
    fingerprint,
    package_fingerprint,
    seeds,
    sha256_json,
    versions,
)


def test_digests_cover_visible_files_and_follow_content(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "sub" / "b.txt").write_text("two")
    (tmp_path / ".a.tmp123.txt").write_text("half-written")  # atomic_path temporaries are skipped
    digests = file_digests(tmp_path)
    assert sorted(digests) == ["a.txt", "sub/b.txt"]
    before = fingerprint(digests)
    (tmp_path / "sub" / "b.txt").write_text("TWO")
    assert fingerprint(file_digests(tmp_path)) != before
    assert file_digests(tmp_path / "absent") == {} and fingerprint({}) == "-"
    assert list(file_digests(tmp_path / "a.txt")) == ["a.txt"]


def test_cache_skips_rereading_unchanged_files(tmp_path):
    path = tmp_path / "big.vcf.gz"
    path.write_bytes(b"x" * 10)
    cache: dict[str, list] = {}
    first = file_digests(tmp_path, cache)
    # Poison the cached digest: a cache hit (same size and mtime) must return it unread.
    cache[str(path.resolve())][2] = "cached"
    assert file_digests(tmp_path, cache)["big.vcf.gz"] == "cached"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert file_digests(tmp_path, cache) == first  # touched: read again


def test_versions_seeds_and_hashes():
    found = versions()
    assert found["python"] and found["numpy"] != "-" and found["lmeqtl"] != "-"
    assert seeds({"name": "x", "train": {"seed": 3, "epochs": 1}, "model": {"d_model": 8}}) == {"train.seed": 3}
    assert sha256_json({"a": 1, "b": [1, 2]}) == sha256_json({"b": [1, 2], "a": 1})
    assert len(package_fingerprint()) == 64
