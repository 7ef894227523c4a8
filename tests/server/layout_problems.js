// The layout problems of the page shown, for tests/server/test_ui_layout_browser.py.
// One script run in the page, so it sees one rendering. It returns a list of problems, each a
// short sentence naming the element, so a failure says what to fix.
const problems = [];
function describe(node) {
  const e = node.nodeType === 1 ? node : node.parentElement;
  return `${e.tagName.toLowerCase()}.${e.className || ""} "${(node.textContent || "").trim().slice(0, 40)}"`;
}
const doc = document.documentElement;
if (doc.scrollWidth > window.innerWidth) {
  // Name the outermost elements that stick out, outside any scrolling box: the ones to fix.
  const out = e => e.getBoundingClientRect().right > window.innerWidth + 1;
  const inScroller = e => {
    for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const wide = Array.from(document.body.querySelectorAll("*"))
    .filter(e => out(e) && !out(e.parentElement) && !inScroller(e))
    .slice(0, 3).map(e => describe(e));
  problems.push(`page ${doc.scrollWidth}px wide in a ${window.innerWidth}px window: ${wide.join(", ")}`);
}
// Text squeezed into a narrow column: several lines of a few characters each.
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const text = node.textContent.trim();
  if (text.length < 8 || node.parentElement.closest("script, style, option, .u-legend .u-value")) continue;
  const range = document.createRange();
  range.selectNodeContents(node);
  const tops = new Set(Array.from(range.getClientRects(), r => Math.round(r.top)));
  if (tops.size >= 3 && text.length / tops.size < 6) {
    problems.push(`${tops.size} lines for ${text.length} characters: ${describe(node)}`);
  }
}
// Text cut by an ellipsis keeps its whole text in a title, on it or on an element around it.
for (const e of document.body.querySelectorAll("*")) {
  const style = getComputedStyle(e);
  if (style.textOverflow !== "ellipsis" || e.scrollWidth <= e.clientWidth + 1) continue;
  const holder = e.closest("[title]");
  const title = holder ? holder.getAttribute("title") : "";
  const shown = e.textContent.trim();
  // A server may have cut the text already, ending it with "…" or "...".
  if (!shown || !title.includes(shown.replace(/(…|\.\.\.)$/, ""))) {
    problems.push(`cut without its full text in a title: ${describe(e)}`);
  }
}
// Chart titles and legends stay inside the card that holds the chart.
for (const card of document.querySelectorAll(".chart, .ds-chart, .gw-chart, .column-card")) {
  const box = card.getBoundingClientRect();
  for (const part of card.querySelectorAll("h3, .u-title, .u-legend, .u-legend .u-series, canvas, svg")) {
    const r = part.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < box.left - 1 || r.right > box.right + 1) {
      problems.push(`${describe(part)} (${Math.round(r.left)}..${Math.round(r.right)}) outside its card (${Math.round(box.left)}..${Math.round(box.right)})`);
    }
  }
}
return problems;
