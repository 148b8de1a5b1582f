"""Reading a rendered dashboard the way a person would: its tables and its figures."""

from html.parser import HTMLParser


class _DashboardParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.figures: dict[str, str] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._figure: list[tuple[str, int, list[str]]] = []
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._depth += 1
        if tag == "table" and "data-chart" in attrs:
            self._table = attrs["data-chart"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []
        if "data-figure" in attrs:
            self._figure.append((attrs["data-figure"], self._depth, []))

    def handle_endtag(self, tag):
        if self._cell is not None and tag in ("td", "th"):
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif self._row is not None and tag == "tr":
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        if self._figure and self._figure[-1][1] == self._depth:
            name, _, text = self._figure.pop()
            self.figures[name] = " ".join("".join(text).split())
        self._depth -= 1

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        for _, _, text in self._figure:
            text.append(data)


def read_dashboard(html: str) -> tuple[dict[str, list[list[str]]], dict[str, str]]:
    """(tables by chart slug, header row first; figures by their data-figure name)."""
    parser = _DashboardParser()
    parser.feed(html)
    return parser.tables, parser.figures
