"""The markdown tables of asset and check metadata."""

from loyalty_sync.defs.metadata import markdown_table


def test_markdown_table_escapes_pipes_and_blanks_none() -> None:
    table = markdown_table(["name", "value"], [["a|b", None], ["c", 3]])
    assert table.splitlines() == [
        "| name | value |",
        "|---|---|",
        "| a\\|b |  |",
        "| c | 3 |",
    ]


def test_markdown_table_says_how_many_it_left_out() -> None:
    rows = [[n] for n in range(5)]
    assert markdown_table(["n"], rows, limit=2).endswith("\n_2 of 5 shown_")
    assert markdown_table(["n"], rows[:2], limit=10, total=40).endswith("\n_2 of 40 shown_")
    assert "shown" not in markdown_table(["n"], rows, limit=5)


def test_markdown_table_of_nothing_says_so() -> None:
    assert markdown_table(["n"], []) == "_none_"
    assert markdown_table(["n"], [], empty="_no events_") == "_no events_"
