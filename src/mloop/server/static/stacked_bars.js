/* mloop UI: a stacked bar chart of counts per time bucket (uPlot bars), shared by the alerts
 * page (alerts per severity) and the automation page (jobs per status). The data comes from a
 * <script type="application/json"> block: labels, and one series of counts per name.
 * mloopStackedBars(sourceId, holder, colors, failure) draws it into holder's .chart-canvas,
 * redraws it on resize and returns {plot, box}, or null when there is nothing to draw (the
 * holder then says ``failure``). Value formats come from chart_format.js. Plain ES2017, no
 * dependencies beyond the vendored uPlot. */
(function () {
  "use strict";

  var HEIGHT = 200;
  function widthOf(box) { return Math.max(box.clientWidth || 0, 260); }

  // Each series is drawn as the running total up to it, so every series shows as its own
  // band; the legend still reads each series's own count.
  function draw(box, spec, colors) {
    var fmt = window.mloopChartFormat.formatter("plain");
    var n = spec.labels.length;
    var running = [];
    var xs = [];
    for (var i = 0; i < n; i++) { running.push(0); xs.push(i); }
    var stacked = spec.series.map(function (s) {
      return s.values.map(function (v, j) { running[j] += v || 0; return running[j]; });
    });
    var series = [{ label: "when", value: function (u, v) { return v === null ? "" : spec.labels[v] || ""; } }];
    var data = [xs];
    for (var k = spec.series.length - 1; k >= 0; k--) {
      (function (s, idx) {
        var color = colors[s.label] || "#7f7f7f";
        series.push({
          label: s.label,
          stroke: color,
          fill: color,
          width: 0,
          paths: window.uPlot.paths.bars({ size: [0.7, 48], align: 0 }),
          points: { show: false },
          value: function (u, v, si, j) { return j === null || j === undefined ? "" : fmt(s.values[j]); }
        });
        data.push(stacked[idx]);
      })(spec.series[k], k);
    }
    var step = Math.max(1, Math.ceil(n / 8));
    return new window.uPlot({
      width: widthOf(box),
      height: HEIGHT,
      scales: {
        x: { time: false, range: [-0.5, n - 0.5] },
        y: { range: function (u, min, max) { return [0, max > 0 ? Math.ceil(max * 1.1) : 1]; } }
      },
      axes: [
        {
          size: 34,
          values: function (u, vals) {
            return vals.map(function (v) {
              return Number.isInteger(v) && v % step === 0 && spec.labels[v] ? spec.labels[v].slice(5) : "";
            });
          }
        },
        { size: window.mloopChartFormat.axisSize, values: function (u, vals) { return vals.map(fmt); } }
      ],
      series: series,
      legend: { live: true },
      cursor: { drag: { x: false, y: false }, points: { show: false } }
    }, data, box);
  }

  window.mloopStackedBars = function (sourceId, holder, colors, failure) {
    var source = document.getElementById(sourceId);
    if (!source || !holder || typeof window.uPlot !== "function") { return null; }
    var box = holder.querySelector(".chart-canvas") || holder;
    var drawn;
    try {
      drawn = { plot: draw(box, JSON.parse(source.textContent), colors), box: box };
      holder.setAttribute("data-drawn", "true");
    } catch (e) {
      var p = document.createElement("p");
      p.className = "chart-note muted";
      p.textContent = failure;
      holder.appendChild(p);
      if (window.console) { window.console.error(e); }
      return null;
    }
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { drawn.plot.setSize({ width: widthOf(box), height: HEIGHT }); }, 150);
    });
    return drawn;
  };
})();
