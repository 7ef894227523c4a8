/* mloop UI: the whole text of anything the stylesheet cut with an ellipsis, on hover.
 *
 * Names in table cells, badges and chart legends stay on one line and are cut to fit
 * (app.css, "Long names and unicode"). An element that is cut and has no title of its own
 * gets its full text as its title: once when the page has loaded, and again when the
 * pointer reaches it, since charts redraw their legends after the page has loaded.
 * The text goes in with setAttribute, never as HTML.
 */
(function () {
  "use strict";

  function isCut(el) {
    return el.scrollWidth > el.clientWidth + 1 &&
      window.getComputedStyle(el).textOverflow === "ellipsis";
  }

  function entitle(el) {
    if (!(el instanceof Element) || el.hasAttribute("title") || !isCut(el)) { return; }
    var text = el.textContent.replace(/\s+/g, " ").trim();
    if (text) { el.setAttribute("title", text); }
  }

  function entitleAll() {
    var all = document.body.querySelectorAll("*");
    for (var i = 0; i < all.length; i++) { entitle(all[i]); }
  }

  document.addEventListener("mouseover", function (event) {
    for (var el = event.target; el && el !== document.body; el = el.parentElement) {
      entitle(el);
    }
  });
  if (document.readyState === "complete") {
    entitleAll();
  } else {
    window.addEventListener("load", entitleAll);
  }
})();
