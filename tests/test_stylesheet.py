"""The stylesheet says each thing once: no rule or media query written twice."""

import re
from collections import Counter
from pathlib import Path

STYLESHEET = Path(__file__).resolve().parents[1] / "static" / "css" / "uplift.css"


def rules(css: str) -> list[tuple[str, str]]:
    """(context, selectors) for every rule: context is "" at the top or the @media prelude."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found, context, depth, start = [], "", 0, 0
    for i, char in enumerate(css):
        if char == "{":
            prelude = css[start:i].strip()
            if prelude.startswith("@"):
                context = prelude
            else:
                found.append((context, ", ".join(s.strip() for s in prelude.split(","))))
            depth += 1
            start = i + 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                context = ""
            start = i + 1
        elif char == ";" and depth <= (1 if context else 0):
            start = i + 1  # a declaration or an @import, not a prelude
    return found


def test_no_selector_list_is_ruled_twice_in_the_same_context():
    counts = Counter(rules(STYLESHEET.read_text()))
    assert [rule for rule, n in counts.items() if n > 1] == []


def test_each_media_query_is_written_once():
    text = re.sub(r"/\*.*?\*/", "", STYLESHEET.read_text(), flags=re.S)
    queries = Counter(m.strip() for m in re.findall(r"(@media[^{]+)\{", text))
    assert [q for q, n in queries.items() if n > 1] == []


def test_the_parser_sees_duplicates():
    css = "a { x: 1; } @media (w) { a { y: 2; } b,a { z: 3; } } a { w: 4; } b, a { v: 5; }"
    assert Counter(rules(css)) == {
        ("", "a"): 2,
        ("@media (w)", "a"): 1,
        ("@media (w)", "b, a"): 1,
        ("", "b, a"): 1,
    }
