"""io.atomic: a file is replaced whole or not at all, even by a process killed mid-write."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from video_pipeline.io.atomic import Staged, atomic_write, atomic_writer, temp_path, write_json

REPO = Path(__file__).resolve().parents[2]

# Writes version after version of one large file, as fast as it can, and prints each
# version once it is in place. `plain` writes in place: the control that shows the
# kill lands mid-write.
WRITER = textwrap.dedent(
    """
    import sys
    from video_pipeline.io.atomic import atomic_writer, write_json
    from video_pipeline.io.jsonl import dumps_line

    target, how = sys.argv[1], sys.argv[2]
    n = 150_000
    v = 0
    while True:
        v += 1
        if how == "json":
            write_json(target, {"v": v, "items": [v] * n})
        elif how == "json-fast":
            write_json(target, {"v": v, "items": [v] * n}, durable=False)
        elif how == "lines":
            with atomic_writer(target) as f:
                for i in range(n // 10):
                    f.write(dumps_line({"v": v, "i": i}))
        else:
            with open(target, "w") as f:
                f.write('{"v": %d, "items": [' % v)
                for _ in range(n - 1):
                    f.write("%d, " % v)
                f.write('%d]}\\n' % v)
        print(v, flush=True)
    """
)


def _version(path: Path, how: str) -> int:
    """The one version the whole file holds; fails on a torn or mixed file."""
    text = path.read_text()
    if how == "lines":
        rows = [json.loads(line) for line in text.splitlines()]
        assert [r["i"] for r in rows] == list(range(len(rows))) and rows
        versions = {r["v"] for r in rows}
    else:
        data = json.loads(text)
        versions = {data["v"], *data["items"]}
    assert len(versions) == 1, versions
    return versions.pop()


def _kill_mid_write(path: Path, how: str, wait_first: bool) -> tuple[int, bool]:
    """Start a writer, SIGKILL it at a random moment; (last version it reported, whether
    it left a temp file, i.e. was killed mid-write)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), how], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        done = int(proc.stdout.readline()) if wait_first else 0
        time.sleep(random.uniform(0.0, 0.15))
    finally:
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
    done = max([done, *map(int, out.split())])
    left = path.with_name(f"{path.name}.tmp{proc.pid}")
    mid_write = left.exists()
    left.unlink(missing_ok=True)
    return done, mid_write


@pytest.mark.parametrize("how", ["json", "json-fast", "lines"])
def test_a_kill_mid_write_leaves_the_old_file_or_none(tmp_path: Path, how: str) -> None:
    """The first kill may come before any version is in place (then there is no file);
    every later one after at least one."""
    path = tmp_path / "out.json"
    mid_writes = 0
    for attempt in range(6):
        done, mid_write = _kill_mid_write(path, how, wait_first=attempt > 0)
        mid_writes += mid_write
        if not path.exists():
            assert done == 0, "a reported version must be in place"
            continue
        assert _version(path, how) >= done  # the last reported one, or a newer whole one
    if how == "lines":  # a streamed file spends nearly all its time in its temp file
        assert mid_writes > 0, "no kill landed mid-write: the test proved nothing"


def test_the_control_writer_is_torn_by_the_same_kill(tmp_path: Path) -> None:
    """Writing in place, the same kill leaves a torn file: the test above can fail."""
    path = tmp_path / "out.json"
    for _ in range(10):
        _kill_mid_write(path, "plain", wait_first=True)
        try:
            _version(path, "plain")
        except (json.JSONDecodeError, AssertionError):
            return
    pytest.fail("ten kills never tore a file written in place")


def test_atomic_write_variants(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f.txt"
    atomic_write(path, "caf\u00e9\n")
    assert path.read_bytes() == "caf\u00e9\n".encode()
    atomic_write(path, b"\x00\x01", durable=False)
    assert path.read_bytes() == b"\x00\x01"
    write_json(path, {"a": "\u00e9"})
    assert path.read_text() == '{\n  "a": "\\u00e9"\n}\n'
    with atomic_writer(path, "w") as f:
        f.write("text mode")
    assert path.read_text() == "text mode"
    assert [p.name for p in path.parent.iterdir()] == ["f.txt"]


def test_a_failed_write_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_writer(path) as f:
        f.write(b"new, half")
        raise RuntimeError("writer failed")
    assert path.read_text() == "old"
    assert not temp_path(path).exists()


def test_staged_files_are_published_together(tmp_path: Path) -> None:
    """A set commits file by file after all are written; one not committed is discarded."""
    a, b = tmp_path / "a", tmp_path / "b"
    with Staged(a) as sa, Staged(b) as sb:
        sa.open().write(b"A")
        sb.tmp.write_bytes(b"B")  # written by someone else (a download)
        assert not a.exists() and not b.exists()
        sa.commit()
        assert a.read_bytes() == b"A" and not b.exists()
    assert not b.exists() and not sb.tmp.exists()  # left uncommitted: gone
    with Staged(b) as sb:
        sb.tmp.write_bytes(b"B")
        sb.commit()
    assert b.read_bytes() == b"B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
