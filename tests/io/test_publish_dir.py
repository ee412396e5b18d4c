"""`publish_dir`: a folder built whole or not at all, once, even with racing builders."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from video_pipeline.io.atomic import publish_dir

MARK = ".built.json"


def _slow_build(tmp: Path) -> None:
    (tmp / "part1").write_text("a")
    time.sleep(0.3)  # a racing builder finishes meanwhile
    (tmp / "part2").write_text("b")


def _race(out: str) -> None:
    publish_dir(out, MARK, {"v": 1}, _slow_build)


def test_builds_once_and_returns_the_marked_folder(tmp_path: Path) -> None:
    calls = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "weights").write_text("w")

    out = tmp_path / "model"
    assert publish_dir(out, MARK, {"v": 1}, build) == out.resolve()
    assert publish_dir(out, MARK, {"v": 1}, build) == out.resolve()
    assert len(calls) == 1 and (out / "weights").read_text() == "w"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.")]
    with pytest.raises(ValueError, match="different build"):
        publish_dir(out, MARK, {"v": 2}, build)


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken(tmp: Path) -> None:
        (tmp / "half").write_text("x")
        raise RuntimeError("out of disk")

    with pytest.raises(RuntimeError):
        publish_dir(tmp_path / "model", MARK, {"v": 1}, broken)
    assert list(tmp_path.iterdir()) == []


def test_foreign_content_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "model"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        publish_dir(out, MARK, {"v": 1}, lambda tmp: None)
    assert (out / "mine.txt").read_text() == "user data"


def test_racing_builders_agree_on_one_complete_folder(tmp_path: Path) -> None:
    out = tmp_path / "model"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_race, args=(str(out),)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert sorted(p.name for p in out.iterdir()) == [MARK, "part1", "part2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
