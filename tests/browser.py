"""Helpers for the tests that drive pages in Chromium."""

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page


@contextmanager
def swap_settled(page: Page, timeout: float = 10_000) -> Iterator[None]:
    """Wait, after the block, until htmx has swapped in the answer to a boosted form sent in it
    (the page does not load, so there is no navigation to wait for)."""
    page.evaluate(
        """() => { window.__swaps = 0;
             document.addEventListener("htmx:afterSettle", () => { window.__swaps += 1; },
                                       { once: true }); }"""
    )
    yield
    page.wait_for_function("() => window.__swaps > 0", timeout=timeout)
