"""The markdown tables of asset and check metadata, and Capillary's text inside them."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from markdown_it import MarkdownIt

from loyalty_sync.defs.metadata import markdown_table, markdown_text
from loyalty_sync.text import one_line
from loyalty_sync.warehouse import tables
from loyalty_sync_tests.rewriting_proxy import each_object_with
from loyalty_sync_tests.synced_warehouse import Warehouse, synced_warehouse


def test_markdown_table_escapes_pipes_and_blanks_none() -> None:
    table = markdown_table(["name", "value"], [["a|b", None], ["c", 3]])
    assert table.splitlines() == [
        "| name | value |",
        "|---|---|",
        "| a\\|b |  |",
        "| c | 3 |",
    ]


def test_markdown_text_is_one_line_with_every_punctuation_character_escaped() -> None:
    text = markdown_text("a|b\n# h <img> [x](javascript:y) `c` \\ \x1b[2J\u2028z")
    assert text == r"a\|b \# h \<img\> \[x\]\(javascript\:y\) \`c\` \\ \[2J z"
    assert markdown_text("Summer sale 2026-06") == "Summer sale 2026-06"
    assert markdown_text("- item") == r"\- item"  # a list only at a line's start
    assert markdown_text(None) == ""


def test_markdown_table_says_how_many_it_left_out() -> None:
    rows = [[n] for n in range(5)]
    assert markdown_table(["n"], rows, limit=2).endswith("\n_2 of 5 shown_")
    assert markdown_table(["n"], rows[:2], limit=10, total=40).endswith("\n_2 of 40 shown_")
    assert "shown" not in markdown_table(["n"], rows, limit=5)


def test_markdown_table_of_nothing_says_so() -> None:
    assert markdown_table(["n"], []) == "_none_"
    assert markdown_table(["n"], [], empty="_no events_") == "_no events_"


def _hostile(promotion_id: Any) -> str:
    """A promotion name that would inject a heading, cells, HTML, a link and code."""
    return (
        f"#{promotion_id}|<img src=x onerror=alert(1)>\n# Heading\n| a | b |\n"
        "[click](javascript:alert(1)) <javascript:alert(1)> `code` *em* &lt; [bold]b[/bold]"
    )


def _hostile_name(node: dict[str, Any]) -> None:
    """promotionData's `promotionName`, or the catalogue's `name`, made hostile."""
    if "promotionName" in node:
        node["promotionName"] = _hostile(node.get("promotionId"))
    elif "name" in node and "promotionId" in (node["metadata"] or {}):
        node["name"] = _hostile(node["metadata"]["promotionId"])


class _Html(HTMLParser):
    """The tags and table cells of rendered HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.rows: list[list[str]] = []
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self.tags.add(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data: str) -> None:
        if self.in_cell:
            self.rows[-1][-1] += data


def _rendered(markdown: str) -> _Html:
    """`markdown` as the UI renders it (CommonMark with tables and raw HTML allowed)."""
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)
    parsed = _Html()
    parsed.feed(html)
    return parsed


def _column(parsed: _Html, name: str) -> list[str]:
    header, *rows = parsed.rows
    assert all(len(row) == len(header) for row in rows), parsed.rows
    return [row[header.index(name)] for row in rows]


@pytest.fixture(scope="module")
def hostile(
    server_admin_url: str, template_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    home = tmp_path_factory.mktemp("hostile")
    rewrites = {
        "promotionData": each_object_with("promotionName", _hostile_name),
        "/v3/promotions": each_object_with("metadata", _hostile_name),
    }
    with synced_warehouse(server_admin_url, home, "one_partition_tiny", rewrites) as synced:
        yield synced


def test_promotion_names_from_capillary_render_as_their_text_in_metadata(
    hostile: Warehouse,
) -> None:
    with hostile.engine.connect() as conn:
        stored = {
            row.promotion_id: row.promotion_name
            for row in conn.execute(sa.select(tables.promotions))
        }
    assert stored and all(name == _hostile(pid) for pid, name in stored.items())
    with hostile.instance() as instance:
        promotions = instance.get_latest_materialization_event(dg.AssetKey("promotions"))
        performance = instance.get_latest_materialization_event(
            dg.AssetKey("promotion_performance")
        )
    assert promotions is not None and performance is not None
    sample = _rendered(promotions.asset_materialization.metadata["sample"].value)  # type: ignore[union-attr]
    table = _rendered(performance.asset_materialization.metadata["promotions_table"].value)  # type: ignore[union-attr]
    for parsed in (sample, table):
        # One table, nothing else: no heading, image, link, code or raw HTML got through.
        assert parsed.tags <= {"table", "thead", "tbody", "tr", "th", "td", "p", "em"}
    # Each name shows as its own text on one line (the sample cuts cells at 40 characters).
    assert set(_column(table, "name")) == {one_line(n) for n in stored.values()}
    assert set(_column(sample, "promotion_name")) <= {one_line(n[:40]) for n in stored.values()}
