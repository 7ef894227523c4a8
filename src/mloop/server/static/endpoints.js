/* mloop UI, endpoint page: the traffic charts per variant (uPlot on a UTC time axis):
 * observed traffic split (stacked bars of shares), requests per minute, latency p50 (solid)
 * and p99 (dashed), and error rate. The data comes from the page's
 * <script type="application/json" id="endpoint-charts"> block: {times (s), bucket_s,
 * variants, charts: {id: {type, format, series: [{label, variant, values, dash}]}}}, keyed
 * by each holder's data-chart-id. A variant keeps its colour on every chart. Plain ES2017,
 * no dependencies beyond the vendored uPlot. */
(function () {
  "use strict";

  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#d62728", "#8c564b", "#e377c2", "#17becf"];
  var HEIGHT = 220;
  var drawn = {};  // chart id -> { plot, box }
  window.mloopEndpointCharts = drawn;  // read by the browser tests

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function widthOf(box) { return Math.max(box.clientWidth || 0, 260); }

  var formatter = window.mloopChartFormat.formatter;  // chart_format.js
  var axisSize = window.mloopChartFormat.axisSize;

  function colorOf(spec, variant) {
    var i = spec.variants.indexOf(variant);
    return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
  }

  function utc(ts) { return window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); }

  function baseOptions(box, spec, chart) {
    var fmt = formatter(chart.format);
    var half = spec.bucket_s / 2;
    var first = spec.times[0];
    var last = spec.times[spec.times.length - 1];
    return {
      width: widthOf(box),
      height: HEIGHT,
      tzDate: utc,
      scales: {
        x: { time: true, range: [first - half, last + half] },
        y: chart.format === "pct"
          ? { range: function (u, min, max) { return [0, Math.max(max, 0.01) * (chart.type === "stack" ? 1 : 1.08)]; } }
          : { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } }
      },
      axes: [{}, { size: axisSize, values: function (u, vals) { return vals.map(fmt); } }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      series: [{ label: "time (UTC)" }]
    };
  }

  // Stacked bars: each series is drawn as the running total up to it, the last first, so
  // each variant shows as its own band; the legend reads each variant's own share.
  function drawStack(box, spec, chart) {
    var fmt = formatter(chart.format);
    var n = spec.times.length;
    var running = [];
    var any = [];
    for (var d = 0; d < n; d++) { running.push(0); any.push(false); }
    var totals = chart.series.map(function (s) {
      return s.values.map(function (v, i) {
        if (v !== null && v !== undefined) { running[i] += v; any[i] = true; }
        return running[i];
      });
    });
    totals = totals.map(function (column) {
      return column.map(function (v, i) { return any[i] ? v : null; });
    });
    var opts = baseOptions(box, spec, chart);
    opts.scales.y = { range: [0, 1] };
    var data = [spec.times];
    for (var k = chart.series.length - 1; k >= 0; k--) {
      (function (s, i) {
        var color = colorOf(spec, s.variant);
        opts.series.push({
          label: s.label,
          stroke: color,
          fill: color,
          width: 0,
          paths: window.uPlot.paths.bars({ size: [0.8, 64], align: 0 }),
          points: { show: false },
          value: function (u, v, si, idx) { return idx === null || idx === undefined ? "" : fmt(s.values[idx]); }
        });
        data.push(totals[i]);
      })(chart.series[k], k);
    }
    return new window.uPlot(opts, data, box);
  }

  function drawLine(box, spec, chart) {
    var fmt = formatter(chart.format);
    var opts = baseOptions(box, spec, chart);
    var data = [spec.times];
    chart.series.forEach(function (s) {
      opts.series.push({
        label: s.label,
        stroke: colorOf(spec, s.variant),
        width: 2,
        dash: s.dash ? [6, 4] : undefined,
        spanGaps: false,
        points: { show: spec.times.length <= 90, size: 5 },
        value: function (u, v) { return fmt(v); }
      });
      data.push(s.values);
    });
    return new window.uPlot(opts, data, box);
  }

  function draw(holder, spec) {
    var id = holder.getAttribute("data-chart-id");
    var chart = spec.charts[id];
    if (!chart) { return; }
    var box = holder.querySelector(".chart-canvas") || holder;
    if (drawn[id]) { drawn[id].plot.destroy(); delete drawn[id]; }
    box.textContent = "";
    if (!chart.series.length) {
      note(holder, "no answered requests in this range");
      return;
    }
    var plot = chart.type === "stack" ? drawStack(box, spec, chart) : drawLine(box, spec, chart);
    drawn[id] = { plot: plot, box: box };
    holder.setAttribute("data-drawn", "true");
  }

  function note(holder, message) {
    var p = document.createElement("p");
    p.className = "chart-note muted";
    p.textContent = message;
    holder.appendChild(p);
  }

  function start() {
    var source = document.getElementById("endpoint-charts");
    if (!source || typeof window.uPlot !== "function") { return; }
    var spec;
    try { spec = JSON.parse(source.textContent); } catch (e) { return; }
    each(document.querySelectorAll(".ep-chart[data-chart-id]"), function (holder) {
      try {
        draw(holder, spec);
      } catch (e) {
        note(holder, "this chart could not be drawn");
        if (window.console) { window.console.error(e); }
      }
    });
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

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
