/* mloop UI, gateway pages: the overview's daily charts (uPlot: stacked bars and lines) with
 * the spend chart's route / model / token switch, and the calls page's menus, which apply
 * as soon as one changes (the form works without scripts too). The chart data comes from
 * the page's <script type="application/json" id="gateway-charts"> block, keyed by each
 * holder's data-chart-id. The y axis is as wide as its longest label, so "$1234.50" or
 * "2.50 s" is never cut. Plain ES2017, no dependencies beyond the vendored uPlot. */
(function () {
  "use strict";

  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  var NAMED = {
    ok: "#2ca02c", blocked: "#ff7f0e", errors: "#d62728", "hit rate": "#1f77b4",
    "(other)": "#b0b0b0", p50: "#1f77b4", p95: "#d62728"
  };
  var EMPTY = { pct: "no lookups", ms: "no calls" };  // what a day without a value reads
  var HEIGHT = 220;
  var drawn = {};  // chart id -> { plot, box }
  window.mloopGatewayCharts = drawn;  // read by the browser tests (axis labels fit)

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function widthOf(box) { return Math.max(box.clientWidth || 0, 260); }

  var formatter = window.mloopChartFormat.formatter;  // chart_format.js
  var axisSize = window.mloopChartFormat.axisSize;

  function colorOf(label, i) { return NAMED[label] || PALETTE[i % PALETTE.length]; }

  function xAxis(days) {
    return {
      size: 34,
      incrs: [1, 2, 3, 5, 7, 14, 30],
      values: function (u, vals) {
        return vals.map(function (v) {
          return Number.isInteger(v) && days[v] ? days[v].slice(5) : "";
        });
      }
    };
  }

  function baseOptions(box, spec, fmt) {
    var n = spec.days.length;
    return {
      width: widthOf(box),
      height: HEIGHT,
      scales: { x: { time: false, range: [-0.5, n - 0.5] } },
      axes: [xAxis(spec.days), { size: axisSize, values: function (u, vals) { return vals.map(fmt); } }],
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { show: false } }
    };
  }

  function dayIndexes(n) {
    var xs = [];
    for (var i = 0; i < n; i++) { xs.push(i); }
    return xs;
  }

  // Stacked bars: every series is drawn as the running total up to it, the tallest first,
  // so each key shows as its own band; the legend still reads each key's own value.
  function drawStack(box, spec) {
    var fmt = formatter(spec.format);
    var n = spec.days.length;
    var running = [];
    for (var d = 0; d < n; d++) { running.push(0); }
    var totals = spec.series.map(function (s) {
      return s.values.map(function (v, i) { running[i] += v || 0; return running[i]; });
    });
    var opts = baseOptions(box, spec, fmt);
    opts.scales.y = { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } };
    var series = [{ label: "day", value: function (u, v) { return v === null ? "" : spec.days[v] || ""; } }];
    var data = [dayIndexes(n)];
    for (var k = spec.series.length - 1; k >= 0; k--) {
      (function (s, i) {
        var color = colorOf(s.label, i);
        series.push({
          label: s.label,
          stroke: color,
          fill: color,
          width: 0,
          paths: window.uPlot.paths.bars({ size: [0.7, 64], align: 0 }),
          points: { show: false },
          value: function (u, v, si, idx) { return idx === null || idx === undefined ? "" : fmt(s.values[idx]); }
        });
        data.push(totals[i]);
      })(spec.series[k], k);
    }
    opts.series = series;
    return new window.uPlot(opts, data, box);
  }

  function drawLine(box, spec) {
    var fmt = formatter(spec.format);
    var opts = baseOptions(box, spec, fmt);
    opts.scales.y = spec.format === "pct" ? { range: [0, 1] }
      : { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } };
    opts.series = [{ label: "day", value: function (u, v) { return v === null ? "" : spec.days[v] || ""; } }];
    var data = [dayIndexes(spec.days.length)];
    spec.series.forEach(function (s, i) {
      var color = colorOf(s.label, i);
      opts.series.push({
        label: s.label,
        stroke: color,
        width: 2,
        spanGaps: false,
        points: { show: true, size: 6 },
        value: function (u, v, si, idx) {
          if (idx === null || idx === undefined) { return ""; }
          return v === null ? EMPTY[spec.format] || "" : fmt(v);
        }
      });
      data.push(s.values);
    });
    return new window.uPlot(opts, data, box);
  }

  function draw(holder, spec) {
    var id = holder.getAttribute("data-chart-id");
    var box = holder.querySelector(".chart-canvas") || holder;
    if (drawn[id]) { drawn[id].plot.destroy(); delete drawn[id]; }
    box.textContent = "";
    var plot = spec.type === "stack" ? drawStack(box, spec) : drawLine(box, spec);
    drawn[id] = { plot: plot, box: box };
    holder.setAttribute("data-drawn", "true");
    holder.setAttribute("data-format", spec.format);
  }

  function note(holder, message) {
    var p = document.createElement("p");
    p.className = "chart-note muted";
    p.textContent = message;
    holder.appendChild(p);
  }

  function startCharts() {
    var source = document.getElementById("gateway-charts");
    if (!source || typeof window.uPlot !== "function") { return; }
    var specs;
    try { specs = JSON.parse(source.textContent); } catch (e) { return; }
    var group = document.getElementById("spend-group");
    function specFor(id) {
      if (id === "spend") { return specs.spend[group ? group.value : "route"]; }
      return specs[id];
    }
    function drawOne(holder) {
      var spec = specFor(holder.getAttribute("data-chart-id"));
      if (!spec) { return; }
      try {
        draw(holder, spec);
      } catch (e) {
        note(holder, "this chart could not be drawn");
        if (window.console) { window.console.error(e); }
      }
    }
    each(document.querySelectorAll(".gw-chart[data-chart-id]"), drawOne);
    if (group) {
      group.addEventListener("change", function () {
        var holder = document.querySelector('.gw-chart[data-chart-id="spend"]');
        if (holder) { holder.setAttribute("data-group", group.value); drawOne(holder); }
      });
    }
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        Object.keys(drawn).forEach(function (id) {
          drawn[id].plot.setSize({ width: widthOf(drawn[id].box), height: HEIGHT });
        });
      }, 150);
    });
  }

  // The calls page: a changed filter applies at once (the Filter button still works
  // without scripts); the page number starts again at 1 because the form does not send it.
  function startFilters() {
    var form = document.getElementById("call-filters");
    if (!form) { return; }
    // Menus only: a date being typed fires "change" before it is complete.
    each(form.querySelectorAll("select"), function (select) {
      select.addEventListener("change", function () { form.submit(); });
    });
  }

  function start() {
    startCharts();
    startFilters();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
