/* mloop UI, dataset pages: histograms (uPlot), category bars (SVG), overlays of two
 * versions, and the rows-per-version chart. The data comes from the page's
 * <script type="application/json" id="dataset-charts"> block, keyed by each holder's
 * data-chart-id. Plain ES2017, no dependencies beyond the vendored uPlot. */
(function () {
  "use strict";

  var COLOR = { a: "#1f77b4", b: "#d62728" };
  var FILL = { a: "rgba(31, 119, 180, 0.25)", b: "rgba(214, 39, 40, 0.22)" };
  var HEIGHT = 190;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var charts = [];  // drawn uPlot instances with their boxes, for resizing

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function fmt(v) {
    if (v === null || v === undefined || !isFinite(v)) { return ""; }
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) { return v.toExponential(2); }
    if (Number.isInteger(v)) { return String(v); }
    return String(Number(v.toPrecision(4)));
  }

  function pct(v) {
    if (v === null || v === undefined || !isFinite(v)) { return ""; }
    return (v * 100).toFixed(v < 0.001 && v > 0 ? 2 : 1) + "%";
  }

  function widthOf(box) { return Math.max(box.clientWidth || 0, 240); }

  function yFromZero(u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; }

  /* ---- uPlot charts ------------------------------------------------------------------- */

  function stepSeries(label, key, values, show) {
    return {
      label: label,
      stroke: COLOR[key],
      fill: FILL[key],
      width: 1.5,
      paths: window.uPlot.paths.stepped({ align: 1 }),
      points: { show: false },
      value: function (u, v) { return show(v); }
    };
  }

  function histogramOptions(width, edges, series, yFormat) {
    return {
      width: width,
      height: HEIGHT,
      scales: { x: { time: false, range: [edges[0], edges[edges.length - 1]] }, y: { range: yFromZero } },
      axes: [
        { size: 32, values: function (u, vals) { return vals.map(fmt); } },
        { size: 52, values: function (u, vals) { return vals.map(yFormat); } }
      ],
      series: [{ label: "bin from", value: function (u, v) { return fmt(v); } }].concat(series),
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { show: false } }
    };
  }

  // A histogram: counts as a filled step line over the bin edges. The value at the last
  // edge is 0, so the outline drops back to the axis where the data ends.
  function drawHistogram(box, spec, key) {
    var edges = spec.edges;
    var ys = spec.counts.concat([0]);
    var opts = histogramOptions(widthOf(box), edges, [stepSeries("count", key, ys, fmt)], fmt);
    return new window.uPlot(opts, [edges, ys], box);
  }

  // Two versions' shares on the same (common) bins.
  function drawHistogramOverlay(box, spec, labels) {
    var edges = spec.edges;
    var a = spec.shares[0].concat([0]);
    var b = spec.shares[1].concat([0]);
    var opts = histogramOptions(widthOf(box), edges, [
      stepSeries(labels[0], "a", a, pct),
      stepSeries(labels[1], "b", b, pct)
    ], pct);
    return new window.uPlot(opts, [edges, a, b], box);
  }

  function drawRows(box, spec) {
    var xs = spec.versions;
    var opts = {
      width: widthOf(box),
      height: HEIGHT,
      scales: {
        x: { time: false, range: [xs[0] - 0.5, xs[xs.length - 1] + 0.5] },
        y: { range: yFromZero }
      },
      axes: [
        {
          size: 32,
          incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000],
          values: function (u, vals) {
            return vals.map(function (v) { return Number.isInteger(v) ? "v" + v : ""; });
          }
        },
        { size: 60, values: function (u, vals) { return vals.map(fmt); } }
      ],
      series: [
        { label: "version", value: function (u, v) { return v === null ? "" : "v" + v; } },
        {
          label: "rows",
          stroke: COLOR.a,
          fill: FILL.a,
          width: 1,
          paths: window.uPlot.paths.bars({ size: [0.6, 48] }),
          points: { show: false },
          value: function (u, v) { return fmt(v); }
        }
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } }
    };
    return new window.uPlot(opts, [xs, spec.rows], box);
  }

  /* ---- SVG bar charts ----------------------------------------------------------------- */

  function svgEl(name, attrs, parent) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function text(parent, x, y, content, cls, anchor) {
    var t = svgEl("text", { x: x, y: y, "class": cls || "", "text-anchor": anchor || "start" }, parent);
    t.textContent = content;
    return t;
  }

  function shorten(s, n) { return s.length > n ? s.slice(0, n - 1) + "…" : s; }

  // Rows of horizontal bars: one bar per row ("bars") or one per version ("bars-overlay").
  function drawBars(box, rows, keys, valueText) {
    var width = widthOf(box);
    var labelW = Math.min(Math.round(width * 0.34), 170);
    var valueW = keys.length > 1 ? 112 : 96;
    var barW = Math.max(width - labelW - valueW - 12, 40);
    var barH = keys.length > 1 ? 9 : 14;
    var rowH = keys.length > 1 ? 26 : 20;
    var height = rows.length * rowH + 6;
    var max = 0;
    rows.forEach(function (r) { r.values.forEach(function (v) { if (v > max) { max = v; } }); });
    var svg = svgEl("svg", {
      width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "img", "class": "bars-chart"
    });
    var maxChars = Math.max(Math.floor(labelW / 7), 4);
    rows.forEach(function (r, i) {
      var top = 3 + i * rowH;
      var g = svgEl("g", { "class": r.other ? "bar-row other" : "bar-row" }, svg);
      var title = svgEl("title", {}, g);
      title.textContent = r.label + ": " + r.values.map(valueText).join(" → ");
      text(g, labelW - 6, top + rowH / 2 + 4, shorten(r.label, maxChars), "bar-label", "end");
      r.values.forEach(function (v, k) {
        var w = max > 0 ? Math.max((v / max) * barW, v > 0 ? 1 : 0) : 0;
        var y = top + (rowH - barH * r.values.length) / 2 + k * barH;
        svgEl("rect", {
          x: labelW, y: y, width: w.toFixed(1), height: barH - 1,
          fill: COLOR[keys[k]], "fill-opacity": r.other ? 0.35 : 0.8, "class": "bar bar-" + keys[k]
        }, g);
      });
      text(g, labelW + barW + 6, top + rowH / 2 + 4, r.values.map(valueText).join(" → "), "bar-value");
    });
    box.textContent = "";
    box.appendChild(svg);
    return null;
  }

  function categoryBars(box, spec, key) {
    var rows = spec.bars.map(function (b) { return { label: b.label, values: [b.count], share: b.share }; });
    if (spec.other > 0) {
      rows.push({ label: "(all other values)", values: [spec.other], other: true });
    }
    var total = 0;
    rows.forEach(function (r) { total += r.values[0]; });
    return drawBars(box, rows, [key], function (v) {
      return fmt(v) + (total > 0 ? " (" + pct(v / total) + ")" : "");
    });
  }

  function categoryOverlay(box, spec) {
    var rows = spec.bars.map(function (b) { return { label: b.label, values: b.shares }; });
    if (spec.other[0] > 0.0005 || spec.other[1] > 0.0005) {
      rows.push({ label: "(all other values)", values: spec.other, other: true });
    }
    return drawBars(box, rows, ["a", "b"], pct);
  }

  /* ---- wiring ------------------------------------------------------------------------- */

  function note(holder, message) {
    var p = document.createElement("p");
    p.className = "chart-note muted";
    p.textContent = message;
    holder.appendChild(p);
  }

  function draw(holder, spec, labels) {
    var box = holder.querySelector(".chart-canvas") || holder;
    var key = holder.getAttribute("data-series") === "b" ? "b" : "a";
    var plot = null;
    if (spec.type === "hist") {
      plot = drawHistogram(box, spec, key);
    } else if (spec.type === "hist-overlay") {
      plot = drawHistogramOverlay(box, spec, labels);
    } else if (spec.type === "rows") {
      plot = drawRows(box, spec);
    } else if (spec.type === "bars") {
      categoryBars(box, spec, key);
      if (!spec.complete) { note(holder, "most frequent values only"); }
    } else if (spec.type === "bars-overlay") {
      categoryOverlay(box, spec);
      if (!spec.complete) { note(holder, "approximate: a profile holds only the most frequent values"); }
    }
    if (plot) { charts.push({ plot: plot, box: box }); }
    holder.setAttribute("data-drawn", "true");
  }

  function start() {
    var source = document.getElementById("dataset-charts");
    if (!source) { return; }
    var specs;
    try { specs = JSON.parse(source.textContent); } catch (e) { return; }
    var needsPlot = typeof window.uPlot === "function";
    var a = document.querySelector(".version-a");
    var b = document.querySelector(".version-b");
    var labels = [a ? a.textContent : "a", b ? b.textContent : "b"];
    each(document.querySelectorAll(".ds-chart[data-chart-id]"), function (holder) {
      var spec = specs[holder.getAttribute("data-chart-id")];
      if (!spec) { return; }
      if (!needsPlot && /^(hist|hist-overlay|rows)$/.test(spec.type)) { return; }
      try {
        draw(holder, spec, labels);
      } catch (e) {
        note(holder, "this chart could not be drawn");
        if (window.console) { window.console.error(e); }
      }
    });
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        charts.forEach(function (c) { c.plot.setSize({ width: widthOf(c.box), height: HEIGHT }); });
      }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
