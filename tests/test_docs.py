"""Every relative link and #anchor of README.md and docs/*.md resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.markdown_docs import PAGES, anchors, links, slug

EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, file:


def broken_links(page: Path) -> list[str]:
    broken = []
    for href in links(page):
        if EXTERNAL.match(href):
            continue
        path, _, anchor = href.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{href}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{href}: no such heading in {target.name}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(page: Path):
    assert broken_links(page) == []


def test_readme_links_every_docs_page():
    linked = {(REPO / h.partition("#")[0]).resolve() for h in links(REPO / "README.md")}
    pages = set((REPO / "docs").glob("*.md"))
    assert pages and pages <= linked, sorted(p.name for p in pages - linked)


def test_readme_stays_a_map():
    assert len((REPO / "README.md").read_text().splitlines()) < 250


def test_a_broken_link_is_caught(tmp_path: Path):
    (tmp_path / "b.md").write_text("# Title: `x` (y)\n\n## Title: x (y)\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md#title-x-y) [ok](b.md#title-x-y-1) [no](b.md#nope) [no](c.md) [ok](#top)\n"
        "\n# Top\n\n`[not a link](nowhere.md)` [web](https://example.org/x#y)\n"
    )
    assert [b.split(":")[0] for b in broken_links(page)] == ["b.md#nope", "c.md"]


def test_slug_matches_github():
    assert slug("Videos in object storage (S3, GCS, HTTP(S))") == (
        "videos-in-object-storage-s3-gcs-https"
    )
    assert slug("Before a big job: bench") == "before-a-big-job-bench"
    assert slug("Resume and reruns") == "resume-and-reruns"
