"""The project's Markdown docs as data: pages, headings' anchors, links, shell commands."""

from __future__ import annotations

import re
import shlex
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from tests.helpers import REPO

# README.md and docs/*.md are what the tests hold to "every link resolves, every command
# runs"; BENCHMARKS.md is linked from them and links back.
PAGES = [REPO / "README.md", REPO / "BENCHMARKS.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND_PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_MD = MarkdownIt("commonmark").enable("table")


@cache
def tokens(page: Path) -> list[Token]:
    return _MD.parse(page.read_text(encoding="utf-8"))


def _walk(toks: list[Token]):
    for t in toks:
        yield t
        if t.children:
            yield from _walk(t.children)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def anchors(page: Path) -> set[str]:
    """The #anchors GitHub gives the page's headings (a repeated one gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    toks = tokens(page)
    for i, t in enumerate(toks):
        if t.type != "heading_open":
            continue
        parts = toks[i + 1].children or []
        text = "".join(c.content for c in parts if c.type in {"text", "code_inline"})
        base = slug(text)
        n = seen.get(base, 0)
        seen[base] = n + 1
        seen.setdefault(f"{base}-{n}" if n else base, 1)
    return set(seen)


def links(page: Path) -> list[str]:
    """Every link and image target of the page."""
    out = []
    for t in _walk(tokens(page)):
        if t.type == "link_open":
            out.append(str(t.attrs["href"]))
        elif t.type == "image":
            out.append(str(t.attrs["src"]))
    return out


def shell_commands(page: Path) -> list[str]:
    """Each command of the page's ```bash blocks: continuation lines joined, comments and
    blank lines dropped."""
    out = []
    for t in tokens(page):
        if t.type != "fence" or t.info.strip() != "bash":
            continue
        for line in t.content.replace("\\\n", " ").splitlines():
            if shlex.split(line, comments=True):
                out.append(line.strip())
    return out


def inline_commands(page: Path, starts: tuple[str, ...]) -> list[str]:
    """Code spans in the text that are commands starting with one of `starts`."""
    return [
        t.content
        for t in _walk(tokens(page))
        if t.type == "code_inline" and t.content.startswith(starts)
    ]
