"""The table layouts, by hand: the notebooks' saved outputs and docs/benchmarks.md's table are made by them."""

from llama_lab.tables import markdown_row, markdown_table, text_table


def test_text_table_pads_every_column_to_its_widest_cell():
    table = text_table(["model", "GiB"], [["7B", "12.6"], ["70B", "128.5"]], align="<>")
    assert table.splitlines() == ["model    GiB", "7B      12.6", "70B    128.5"]
    # all to the left: the last column is padded too, as notebook 04's saved tables are
    assert text_table(["model", "n"], [["base", "98"], ["chat", "7"]]).splitlines() == [
        "model  n ", "base   98", "chat   7 "]


def test_markdown_rows_and_rule():
    assert markdown_row(["50M", "1.20x", "-"]) == "| 50M | 1.20x | - |"
    assert markdown_table(["size", "kit"], [["tiny", "4"]]) == ["| size | kit |", "|---|---|", "| tiny | 4 |"]
