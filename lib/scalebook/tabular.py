"""One table renderer for the whole book: aligned text and HTML.

A `Table` holds raw cells (numbers stay numbers) and shows them through
per-column formats: as aligned text with `print` (and as its repr), and as
an HTML table in Jupyter and on the site.  Numeric columns are
right-aligned, text columns left-aligned.  `column(name)` gives a column's
raw values back, so a notebook can assert on the very numbers it shows.

It imports only the standard library, so every layer may use it: the
measurement readers (`hlo.table`), the spec tables (`scalebook.tables`),
the explorers and the notebooks.

    >>> t = Table(["chip", "HBM (GB)"], [["v5e", 16.0], ["v5p", 95.0]],
    ...           formats={"HBM (GB)": ".0f"})
    >>> print(t)
    chip  HBM (GB)
    ----  --------
    v5e         16
    v5p         95

Units: none of its own; a column's name states the unit of its
cells (e.g. "HBM (GB)").
"""
from __future__ import annotations

import html
import numbers
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = ["Table"]

Format = str | Callable[[Any], str]
"""A format spec for `format(value, spec)` (e.g. ",.0f") or a function."""


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Table:
    """Rows of raw cells under a header; text via str(), HTML in Jupyter.

    - header: column names;
    - rows: one sequence of cells per row (any values; None is missing
      and shows as `missing`);
    - formats: {column: format spec or function} for that column's
      non-missing cells; other cells show with str();
    - align: {column: "left" | "right"} to override the default, which
      right-aligns a column whose cells are all numbers;
    - title: an optional line above the table (a caption in HTML);
    - empty: what a table without rows says under its header.
    """

    def __init__(self, header: Sequence[str], rows: Iterable[Sequence[Any]]
                 = (), *, formats: Mapping[str, Format] | None = None,
                 align: Mapping[str, str] | None = None, title: str = "",
                 missing: str = "–", empty: str = "(no rows)") -> None:
        self.header = [str(h) for h in header]
        if len(set(self.header)) != len(self.header):
            raise ValueError(f"column names must differ, got {self.header}")
        self.rows = [list(r) for r in rows]
        for i, r in enumerate(self.rows):
            if len(r) != len(self.header):
                raise ValueError(
                    f"row {i} has {len(r)} cells but the header has "
                    f"{len(self.header)} columns ({', '.join(self.header)})")
        self.formats = dict(formats or {})
        self.align = dict(align or {})
        for what, names in (("formats", self.formats), ("align", self.align)):
            unknown = [n for n in names if n not in self.header]
            if unknown:
                raise KeyError(f"{what} names no column {unknown[0]!r}; "
                               f"columns: {', '.join(self.header)}")
        bad = {k: v for k, v in self.align.items()
               if v not in ("left", "right")}
        if bad:
            raise ValueError(f"align must be 'left' or 'right', got {bad}")
        self.title = title
        self.missing = missing
        self.empty = empty

    # ------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        """The raw values of one column, one per row."""
        return [r[self._index(name)] for r in self.rows]

    def records(self) -> list[dict[str, Any]]:
        """The rows as {column: raw value} dicts."""
        return [dict(zip(self.header, r)) for r in self.rows]

    def text_rows(self) -> list[list[str]]:
        """The rows as the strings shown (formats applied)."""
        return [[self._show(h, v) for h, v in zip(self.header, r)]
                for r in self.rows]

    def _index(self, name: str) -> int:
        try:
            return self.header.index(name)
        except ValueError:
            raise KeyError(f"no column {name!r}; columns: "
                           f"{', '.join(self.header)}") from None

    def _show(self, column: str, value: Any) -> str:
        if value is None:
            return self.missing
        fmt = self.formats.get(column)
        if fmt is None or isinstance(value, str):
            return str(value)
        return fmt(value) if callable(fmt) else format(value, fmt)

    def _right(self, i: int) -> bool:
        name = self.header[i]
        if name in self.align:
            return self.align[name] == "right"
        cells = [r[i] for r in self.rows if r[i] is not None]
        return bool(cells) and all(_is_number(c) for c in cells)

    # ------------------------------------------------------------- render
    def __str__(self) -> str:
        shown = self.text_rows()
        widths = [max([len(h)] + [len(r[i]) for r in shown])
                  for i, h in enumerate(self.header)]
        right = [self._right(i) for i in range(len(self.header))]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r
                             in zip(cells, widths, right)).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.header), line(["-" * w for w in widths])]
        out += [line(r) for r in shown] if shown else [self.empty]
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        right = [self._right(i) for i in range(len(self.header))]

        def cell(tag: str, text: str, r: bool) -> str:
            style = ' style="text-align: right"' if r else \
                ' style="text-align: left"'
            return f"<{tag}{style}>{esc(text)}</{tag}>"

        head = "".join(cell("th", h, r) for h, r in zip(self.header, right))
        body = "".join(
            "<tr>" + "".join(cell("td", c, r) for c, r in zip(row, right))
            + "</tr>" for row in self.text_rows())
        if not self.rows:
            body = (f'<tr><td colspan="{len(self.header)}">'
                    f"{esc(self.empty)}</td></tr>")
        cap = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        return (f"<table>{cap}<thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table>")
