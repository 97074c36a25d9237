"""Layout facts read from a real browser: horizontal overflow, how many lines a cell's text
takes, where labels sit, and the breadcrumbs as a person reads them."""

from __future__ import annotations

from playwright.sync_api import Locator, Page

WIDTHS = (1024, 1280)  # lists and forms must read well from 1024 px up

# The lines a box's text occupies: each text fragment's rectangles, grouped by their top edge
# (a fragment on the same line as another, even in a smaller font, starts within half a line).
_LINES = """el => {
  const tops = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) {
      if (rect.width > 0 && rect.height > 0) tops.push([rect.top, rect.height]);
    }
  }
  tops.sort((a, b) => a[0] - b[0]);
  let lines = 0, last = -Infinity;
  for (const [top, height] of tops) {
    if (top - last > height / 2) { lines += 1; last = top; }
  }
  return lines;
}"""


def set_width(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})


def overflow(locator: Locator) -> int:
    """How many pixels the element's content sticks out sideways (0 when it fits)."""
    return locator.evaluate("el => el.scrollWidth - el.clientWidth")


def page_overflow(page: Page) -> int:
    return page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")


def lines(locator: Locator) -> int:
    return locator.evaluate(_LINES)


def line_counts(locator: Locator) -> list[int]:
    return [lines(locator.nth(i)) for i in range(locator.count())]


def box(locator: Locator) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, "the element is not displayed"
    return found


def within_window(page: Page, locator: Locator) -> bool:
    """Whether the element's right edge is inside the window (nothing cut off)."""
    width = page.evaluate("document.documentElement.clientWidth")
    return all(box(locator.nth(i))["x"] + box(locator.nth(i))["width"] <= width + 0.5
               for i in range(locator.count()))


def crumbs(page: Page) -> str:
    """The breadcrumbs' text as a reader sees it ("Acme › Managed imports"; the separators'
    spacing is a CSS margin, not text)."""
    text = page.locator("nav.breadcrumbs").inner_text().replace("›", " › ")
    return " ".join(text.split())
