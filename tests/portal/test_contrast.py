"""WCAG AA contrast of the portal's colours: every text/background pair the stylesheet uses
is at least 4.5:1, computed from the colour variables in static/portal/portal.css. The
stylesheet names colours only through those variables, so the pairs below are all of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "static" / "portal" / "portal.css"

# (text, background) pairs as the stylesheet combines them.
PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("primary", "bg"),
    ("primary", "surface"),
    ("on-primary", "primary"),
    ("nav-text", "nav-bg"),
    ("ok-text", "ok-bg"),
    ("warn-text", "warn-bg"),
    ("bad-text", "bad-bg"),
    ("info-text", "info-bg"),
]


def variables() -> dict[str, str]:
    root = re.search(r":root\s*{([^}]*)}", CSS.read_text())
    assert root
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\s*;", root.group(1)))


def luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_the_formula():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic near miss


@pytest.mark.parametrize(("fg", "bg"), PAIRS)
def test_pairs_meet_aa(fg, bg):
    colours = variables()
    ratio = contrast(colours[fg], colours[bg])
    assert ratio >= 4.5, f"{fg} on {bg}: {ratio:.2f}:1"


def test_colours_come_only_from_the_variables():
    css = CSS.read_text()
    body = re.sub(r":root\s*{[^}]*}", "", css)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b|rgb|hsl", body), "a literal colour outside :root"
    fgs = {fg for fg, _ in PAIRS}
    bgs = {bg for _, bg in PAIRS}
    for used in re.findall(r"(?<![-\w])color:\s*var\(--([\w-]+)\)", body):
        assert used in fgs, f"text colour --{used} is in no checked pair"
    for used in re.findall(r"background:\s*var\(--([\w-]+)\)", body):
        assert used in bgs, f"background --{used} is in no checked pair"
