"""The README and docs/ as a reader follows them: every relative link lands somewhere.

The pages point at each other by section (`operating.md#asset-checks`); a heading renamed
or a page moved breaks such a link silently on GitHub, so it fails here instead. Anchors
are the ones GitHub derives from headings.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def _prose(text: str) -> str:
    """The text a reader can click in: no fenced blocks, no code spans."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: Counter[str] = Counter()
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        slug = _slug(heading)
        found.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return found


def relative_links(page: Path) -> list[str]:
    return [t for t in LINK.findall(_prose(page.read_text())) if not SCHEME.match(t)]


def test_every_page_exists_and_the_readme_links_each_one() -> None:
    readme = (ROOT / "README.md").read_text()
    docs = {p.name for p in PAGES[1:]}
    assert {"operating.md", "design.md", "extending.md", "simulator.md"} <= docs
    assert {"benchmarks.md", "deploy.md"} <= docs
    assert [name for name in sorted(docs) if f"(docs/{name}" not in readme] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def test_slugs_follow_github() -> None:
    assert _slug("Change signals: daily syncs that fetch only what may have changed") == (
        "change-signals-daily-syncs-that-fetch-only-what-may-have-changed"
    )
    assert _slug("`promotion_performance`: which promotions give nothing") == (
        "promotion_performance-which-promotions-give-nothing"
    )
    assert _slug("Capillary's clock") == "capillarys-clock"
    assert _slug("Quick start (a fresh machine: Python 3.11 and pip, nothing else running)") == (
        "quick-start-a-fresh-machine-python-311-and-pip-nothing-else-running"
    )
