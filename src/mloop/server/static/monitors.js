/* mloop UI, monitor page: reference-versus-current histograms per column (SVG: grouped
 * vertical bars over the reference's bins for numbers, horizontal bar pairs for categories),
 * selection rates per group with their intervals and the four-fifths line (SVG), the
 * window's confidence histogram with the review threshold and its predicted labels (SVG),
 * and the figures over the windows of the heat map (uPlot lines on a UTC time axis, a
 * metric's interval as a band). The data comes from the page's
 * <script type="application/json"> blocks monitor-histograms, monitor-fairness,
 * monitor-outputs and monitor-charts. Plain ES2017, no dependencies beyond the vendored
 * uPlot. */
(function () {
  "use strict";

  var COLOR = { reference: "#1f77b4", current: "#ff7f0e", flagged: "#b42318" };
  var LINES = ["#1f4e79", "#9467bd", "#2ca02c"];  // measured, estimated (hex: a band adds alpha)
  var SVG_NS = "http://www.w3.org/2000/svg";
  var HEIGHT = 180;
  var LINE_HEIGHT = 200;
  var drawn = { histograms: 0, fairness: 0, outputs: 0, charts: [] };
  window.mloopMonitorCharts = drawn;  // read by the browser tests

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function widthOf(box) { return Math.max(box.clientWidth || 0, 260); }

  function pct(v) {
    if (v === null || v === undefined || !isFinite(v)) { return ""; }
    return (v * 100).toFixed(v > 0 && v < 0.001 ? 2 : 1) + "%";
  }

  function plain(v) { return window.mloopChartFormat.formatter("plain")(v); }

  function shorten(s, n) { return s.length > n ? s.slice(0, Math.max(n - 1, 1)) + "…" : s; }

  function data(id) {
    var source = document.getElementById(id);
    if (!source) { return null; }
    try { return JSON.parse(source.textContent); } catch (e) { return null; }
  }

  /* ---- SVG ----------------------------------------------------------------------------- */

  function svgEl(name, attrs, parent) {
    var el = document.createElementNS(SVG_NS, name);
    Object.keys(attrs).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function text(parent, x, y, content, anchor, cls) {
    var t = svgEl("text", { x: x, y: y, "text-anchor": anchor || "start", "class": cls || "" }, parent);
    t.textContent = content;
    return t;
  }

  function titled(parent, content) {
    var g = svgEl("g", {}, parent);
    svgEl("title", {}, g).textContent = content;
    return g;
  }

  function canvas(box, width, height, label) {
    var svg = svgEl("svg", {
      width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "img", "aria-label": label, "class": "mo-chart-svg"
    });
    box.textContent = "";
    box.appendChild(svg);
    return svg;
  }

  // Vertical bars: one group per bin, one bar per series; an axis with the first and last
  // edge (or label) below.
  function columns(box, bins, series, options) {
    var width = widthOf(box);
    var left = 44, right = 8, top = 8, bottom = 34;
    var svg = canvas(box, width, HEIGHT, options.label);
    var plotW = width - left - right, plotH = HEIGHT - top - bottom;
    var max = 0;
    bins.forEach(function (b) { series.forEach(function (s) { max = Math.max(max, s.value(b) || 0); }); });
    max = max > 0 ? max * 1.08 : 1;
    svgEl("line", { x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH, "class": "mo-axis" }, svg);
    [0, 0.5, 1].forEach(function (f) {
      text(svg, left - 4, top + plotH - f * plotH + 4, options.format(max * f), "end", "mo-muted");
    });
    var slot = plotW / Math.max(bins.length, 1);
    var barW = Math.max((slot * 0.84) / series.length, 1);
    bins.forEach(function (b, i) {
      var g = titled(svg, options.title(b));
      series.forEach(function (s, k) {
        var v = s.value(b) || 0;
        var h = (v / max) * plotH;
        svgEl("rect", {
          x: (left + i * slot + slot * 0.08 + k * barW).toFixed(1), y: (top + plotH - h).toFixed(1),
          width: Math.max(barW - 0.5, 0.5).toFixed(1), height: h.toFixed(1),
          fill: s.color(b), "fill-opacity": b.kind === "below" || b.kind === "above" ? 0.55 : 0.85,
          "class": "mo-bar mo-bar-" + s.key
        }, g);
      });
    });
    if (options.rule !== null && options.rule !== undefined) {
      var x = left + options.rule * plotW;
      svgEl("line", { x1: x, y1: top, x2: x, y2: top + plotH, "class": "mo-rule" }, svg);
    }
    var chars = Math.max(Math.floor(plotW / 2 / 7), 4);
    text(svg, left, HEIGHT - 14, shorten(options.first, chars), "start", "mo-muted");
    text(svg, left + plotW, HEIGHT - 14, shorten(options.last, chars), "end", "mo-muted");
    return svg;
  }

  // Horizontal bars: one row per item, one bar per value (with an optional interval).
  function rows(box, items, options) {
    var width = widthOf(box);
    var keys = options.keys;
    var labelW = Math.min(Math.round(width * 0.32), 160);
    var valueW = keys.length > 1 ? 118 : 64;
    var barW = Math.max(width - labelW - valueW - 14, 40);
    var barH = keys.length > 1 ? 9 : 14;
    var rowH = keys.length > 1 ? 24 : 20;
    var height = items.length * rowH + 8;
    var svg = canvas(box, width, height, options.label);
    var max = options.max || 0;
    items.forEach(function (r) { r.values.forEach(function (v) { max = Math.max(max, v || 0, r.high || 0); }); });
    max = max > 0 ? max : 1;
    var chars = Math.max(Math.floor(labelW / 7), 4);
    items.forEach(function (r, i) {
      var y0 = 4 + i * rowH;
      var g = titled(svg, r.title);
      text(g, labelW - 6, y0 + rowH / 2 + 4, shorten(r.label, chars), "end", r.muted ? "mo-muted" : "");
      r.values.forEach(function (v, k) {
        var w = v ? Math.max((v / max) * barW, 1) : 0;
        svgEl("rect", {
          x: labelW, y: (y0 + (rowH - barH * r.values.length) / 2 + k * barH).toFixed(1),
          width: w.toFixed(1), height: barH - 1, fill: r.color ? r.color : COLOR[keys[k]],
          "fill-opacity": r.muted ? 0.4 : 0.85, "class": "mo-bar mo-bar-" + keys[k]
        }, g);
      });
      if (r.low !== null && r.low !== undefined && r.high !== null && r.high !== undefined) {
        var mid = y0 + rowH / 2;
        svgEl("line", {
          x1: labelW + (r.low / max) * barW, x2: labelW + (r.high / max) * barW, y1: mid, y2: mid,
          "class": "mo-whisker"
        }, g);
      }
      text(g, labelW + barW + 6, y0 + rowH / 2 + 4, r.valueText, "start", "mo-muted");
    });
    if (options.rule !== null && options.rule !== undefined) {
      var x = labelW + (options.rule / max) * barW;
      var rule = titled(svg, options.ruleTitle);
      svgEl("line", { x1: x, y1: 2, x2: x, y2: height - 2, "class": "mo-rule" }, rule);
    }
    return svg;
  }

  /* ---- the charts -------------------------------------------------------------------- */

  function histogram(box, spec) {
    var label = spec.column + ": reference versus this window";
    if (spec.kind === "numeric") {
      var inner = spec.bins.filter(function (b) { return b.kind === "bin"; });
      var first = inner.length ? plain(inner[0].low) : "";
      var last = inner.length ? plain(inner[inner.length - 1].high) : "";
      return columns(box, spec.bins, [
        { key: "reference", value: function (b) { return b.reference; }, color: function () { return COLOR.reference; } },
        { key: "current", value: function (b) { return b.current; }, color: function () { return COLOR.current; } }
      ], {
        label: label, format: pct, first: (spec.bins[0].kind === "below" ? "below " : "") + first,
        last: last + (spec.bins[spec.bins.length - 1].kind === "above" ? " and above" : ""),
        title: function (b) { return b.label + ": reference " + pct(b.reference) + ", this window " + pct(b.current); }
      });
    }
    return rows(box, spec.bins.map(function (b) {
      return {
        label: b.kind === "other" ? "(other values)" : b.label,
        values: [b.reference, b.current],
        muted: b.kind === "other",
        title: b.label + (b.kind === "new" ? " (new: never in the reference)" : "") + ": reference " +
          pct(b.reference) + ", this window " + pct(b.current),
        valueText: pct(b.reference) + " → " + pct(b.current) + (b.kind === "new" ? " new" : "")
      };
    }), { keys: ["reference", "current"], label: label });
  }

  function fairness(box, spec) {
    return rows(box, spec.bars.map(function (b) {
      return {
        label: b.label, values: [b.value], low: b.low, high: b.high, muted: !b.judged,
        color: b.flagged ? COLOR.flagged : null,
        title: b.label + ": selection rate " + pct(b.value) +
          (b.low !== null && b.high !== null ? " [" + pct(b.low) + ", " + pct(b.high) + "]" : "") +
          (b.judged ? "" : " (too few rows to judge)") + (b.flagged ? ", under four fifths of the highest" : ""),
        valueText: pct(b.value)
      };
    }), {
      keys: ["reference"], label: "selection rate by " + spec.attribute, rule: spec.line,
      ruleTitle: "four fifths of the highest judged rate: " + pct(spec.line)
    });
  }

  function confidence(box, spec) {
    var total = spec.counts.reduce(function (a, b) { return a + b; }, 0) || 1;
    var bins = spec.counts.map(function (c, i) {
      return { share: c / total, label: plain(spec.edges[i]) + " to " + plain(spec.edges[i + 1]), kind: "bin" };
    });
    var lo = spec.edges[0], hi = spec.edges[spec.edges.length - 1];
    var rule = spec.threshold !== null && hi > lo ? (spec.threshold - lo) / (hi - lo) : null;
    return columns(box, bins, [
      { key: "current", value: function (b) { return b.share; }, color: function () { return COLOR.current; } }
    ], {
      label: "confidence of this window's predictions", format: pct, first: plain(lo), last: plain(hi),
      rule: rule, title: function (b) { return "confidence " + b.label + ": " + pct(b.share); }
    });
  }

  function predictions(box, labels) {
    return rows(box, labels.map(function (l) {
      return { label: l.label, values: [l.share], title: l.label + ": " + l.count + " (" + pct(l.share) + ")", valueText: pct(l.share) };
    }), { keys: ["current"], label: "predicted labels of this window", max: 0 });
  }

  function utc(ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }

  // Each series a line (estimates dashed); a series' interval as a band between two faint
  // lines, its low and high.
  function line(box, spec, chart) {
    var fmt = window.mloopChartFormat.formatter(chart.format);
    var half = spec.window_s / 2;
    var series = [{ label: "window (UTC)" }];
    var values = [spec.times];
    var bands = [];
    chart.series.forEach(function (s, k) {
      var color = LINES[k % LINES.length];
      series.push({
        label: s.label, stroke: color, width: 2, dash: s.dash ? [6, 4] : undefined, spanGaps: false,
        points: { show: spec.times.length <= 60, size: 5 }, value: function (u, v) { return fmt(v); }
      });
      values.push(s.values);
      if (s.low && s.high) {
        var faint = { stroke: color + "55", width: 1, points: { show: false }, value: function (u, v) { return fmt(v); } };
        series.push(Object.assign({ label: s.label + " high" }, faint));
        series.push(Object.assign({ label: s.label + " low" }, faint));
        values.push(s.high, s.low);
        bands.push({ series: [values.length - 2, values.length - 1], fill: color + "22" });
      }
    });
    var opts = {
      width: widthOf(box),
      height: LINE_HEIGHT,
      tzDate: utc,
      scales: { x: { time: true, range: [spec.times[0] - half, spec.times[spec.times.length - 1] + half] } },
      axes: [{}, { size: window.mloopChartFormat.axisSize, values: function (u, vals) { return vals.map(fmt); } }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      series: series,
      bands: bands
    };
    return new window.uPlot(opts, values, box);
  }

  /* ---- wiring ------------------------------------------------------------------------ */

  function note(holder, message) {
    var p = document.createElement("p");
    p.className = "chart-note muted";
    p.textContent = message;
    holder.appendChild(p);
  }

  function guarded(holder, fn) {
    var box = holder.querySelector(".chart-canvas") || holder;
    try {
      fn(box);
      holder.setAttribute("data-drawn", "true");
      return true;
    } catch (e) {
      note(holder, "this chart could not be drawn");
      if (window.console) { window.console.error(e); }
      return false;
    }
  }

  function drawAll() {
    drawn.histograms = 0;
    drawn.fairness = 0;
    drawn.outputs = 0;
    var histograms = data("monitor-histograms") || [];
    each(document.querySelectorAll(".mo-hist[data-hist]"), function (holder) {
      var spec = histograms[Number(holder.getAttribute("data-hist"))];
      if (spec && spec.bins.length && guarded(holder, function (box) { histogram(box, spec); })) { drawn.histograms += 1; }
    });
    var audits = data("monitor-fairness") || [];
    each(document.querySelectorAll(".mo-fair-chart[data-fair]"), function (holder) {
      var spec = audits[Number(holder.getAttribute("data-fair"))];
      if (spec && spec.bars.length && guarded(holder, function (box) { fairness(box, spec); })) { drawn.fairness += 1; }
    });
    var outputs = data("monitor-outputs") || {};
    each(document.querySelectorAll(".mo-output[data-output]"), function (holder) {
      var kind = holder.getAttribute("data-output");
      var ok = false;
      if (kind === "confidence" && outputs.confidence && outputs.confidence.counts.length) {
        ok = guarded(holder, function (box) { confidence(box, outputs.confidence); });
      } else if (kind === "predictions" && outputs.predictions && outputs.predictions.length) {
        ok = guarded(holder, function (box) { predictions(box, outputs.predictions); });
      }
      if (ok) { drawn.outputs += 1; }
    });
  }

  function drawLines() {
    var spec = data("monitor-charts");
    if (!spec || typeof window.uPlot !== "function") { return; }
    each(document.querySelectorAll(".mo-chart[data-chart]"), function (holder) {
      var chart = spec.charts[Number(holder.getAttribute("data-chart"))];
      if (!chart) { return; }
      guarded(holder, function (box) {
        box.textContent = "";
        drawn.charts.push({ plot: line(box, spec, chart), box: box });
      });
    });
  }

  function start() {
    drawAll();
    drawLines();
    var timer = null;
    var lastWidth = window.innerWidth;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        if (window.innerWidth === lastWidth) { return; }
        lastWidth = window.innerWidth;
        drawAll();  // the SVG charts are laid out for their width: draw them again
        drawn.charts.forEach(function (c) { c.plot.setSize({ width: widthOf(c.box), height: LINE_HEIGHT }); });
      }, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
