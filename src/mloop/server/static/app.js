/* mloop UI behaviour: local times, metric charts (uPlot), column chooser, run selection.
 * Plain ES2017, no build step, no dependencies beyond the vendored uPlot. */
(function () {
  "use strict";

  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  var CHART_HEIGHT = 260;

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  /* ---- times: show UTC instants in the viewer's time zone -------------------------- */
  function localTimes() {
    each(document.querySelectorAll("time[data-ms]"), function (el) {
      var ms = Number(el.getAttribute("data-ms"));
      if (!isFinite(ms)) { return; }
      var d = new Date(ms);
      el.title = el.textContent;
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) +
        " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    });
  }

  /* ---- charts ------------------------------------------------------------------------ */

  // Aligns the series on one sorted x axis; a run's repeated x keeps its last value.
  function align(series, xMode, logY) {
    var xsSet = {};
    var perSeries = series.map(function (s) {
      var byX = new Map();
      var xs = xMode === "time" ? s.times : s.steps;
      for (var i = 0; i < xs.length; i++) {
        var x = xMode === "time" ? xs[i] / 1000 : xs[i];
        var v = s.values[i];
        if (logY && v !== null && v <= 0) { v = null; }
        byX.set(x, v);
        xsSet[x] = true;
      }
      return byX;
    });
    var xs = Object.keys(xsSet).map(Number).sort(function (a, b) { return a - b; });
    var data = [xs];
    perSeries.forEach(function (byX) {
      data.push(xs.map(function (x) { return byX.has(x) ? byX.get(x) : null; }));
    });
    return data;
  }

  function hasFinite(data) {
    for (var i = 1; i < data.length; i++) {
      for (var j = 0; j < data[i].length; j++) {
        if (data[i][j] !== null) { return true; }
      }
    }
    return false;
  }

  function hasPositive(data) {
    for (var i = 1; i < data.length; i++) {
      for (var j = 0; j < data[i].length; j++) {
        if (data[i][j] !== null && data[i][j] > 0) { return true; }
      }
    }
    return false;
  }

  function chartOptions(chart, width, xMode, logY) {
    return {
      width: width,
      height: CHART_HEIGHT,
      scales: { x: { time: xMode === "time" }, y: { distr: logY ? 3 : 1 } },
      axes: [
        { label: xMode === "time" ? "time" : "step", labelSize: 20 },
        { size: 60 }
      ],
      series: [{ label: xMode === "time" ? "time" : "step" }].concat(
        chart.series.map(function (s, i) {
          return {
            label: s.label,
            stroke: COLORS[i % COLORS.length],
            width: 2,
            spanGaps: true,
            points: { show: s.values.length <= 1 ? true : undefined, size: 6 }
          };
        })
      ),
      legend: { live: true },
      cursor: { drag: { x: true, y: false } }
    };
  }

  function drawChart(holder, chart, xMode, logY) {
    var canvasBox = holder.querySelector(".chart-canvas");
    var note = holder.querySelector(".chart-note");
    if (holder._uplot) { holder._uplot.destroy(); holder._uplot = null; }
    canvasBox.textContent = "";
    var data = align(chart.series, xMode, logY);
    var notes = [];
    if (!hasFinite(data)) {
      notes.push("no finite values to plot (NaN or infinite)");
    } else if (logY && !hasPositive(data)) {
      notes.push("no positive values: shown on a linear scale");
      logY = false;
      data = align(chart.series, xMode, false);
    }
    chart.series.forEach(function (s) {
      if (s.truncated) {
        notes.push(s.label + ": only the first " + s.total + " points were read");
      } else if (s.total > s.values.length) {
        notes.push(s.label + ": " + s.values.length + " of " + s.total + " points shown");
      }
    });
    if (!note) {
      note = document.createElement("p");
      note.className = "chart-note muted";
      holder.appendChild(note);
    }
    note.textContent = notes.join("; ");
    var width = Math.max(canvasBox.clientWidth, 280);
    holder._uplot = new window.uPlot(chartOptions(chart, width, xMode, logY), data, canvasBox);
  }

  function initCharts(root) {
    var source = document.getElementById(root.getAttribute("data-source"));
    if (!source || typeof window.uPlot !== "function") { return; }
    var charts = JSON.parse(source.textContent);
    var section = root.parentNode;
    var xSelect = section.querySelector(".chart-x");
    var logBox = section.querySelector(".chart-log");
    var holders = [];

    function drawAll() {
      var xMode = xSelect ? xSelect.value : "step";
      var logY = logBox ? logBox.checked : false;
      holders.forEach(function (holder) {
        drawChart(holder, charts[Number(holder.getAttribute("data-chart"))], xMode, logY);
      });
    }

    each(root.querySelectorAll(".chart[data-chart]"), function (holder) { holders.push(holder); });
    if (xSelect) { xSelect.addEventListener("change", drawAll); }
    if (logBox) { logBox.addEventListener("change", drawAll); }
    drawAll();

    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        holders.forEach(function (holder) {
          var box = holder.querySelector(".chart-canvas");
          if (holder._uplot) {
            holder._uplot.setSize({ width: Math.max(box.clientWidth, 280), height: CHART_HEIGHT });
          }
        });
      }, 150);
    });
  }

  // The experiment chart view (experiment_charts.js) draws its curves with the same code.
  window.mloopCharts = { draw: drawChart, colors: COLORS, height: CHART_HEIGHT };

  /* ---- column chooser (runs table), remembered per experiment ----------------------- */
  function initColumnChooser(chooser) {
    var table = document.getElementById("runs-table");
    var key = chooser.getAttribute("data-storage-key");
    var saved = {};
    try { saved = JSON.parse(window.localStorage.getItem(key) || "{}") || {}; } catch (e) { saved = {}; }
    var boxes = chooser.querySelectorAll("input[data-col]");

    function show(col, visible) {
      if (!table) { return; }
      each(table.querySelectorAll("[data-col]"), function (cell) {
        if (cell.getAttribute("data-col") === col) { cell.hidden = !visible; }
      });
    }

    function save() {
      try { window.localStorage.setItem(key, JSON.stringify(saved)); } catch (e) { /* full or off */ }
    }

    each(boxes, function (box) {
      var col = box.getAttribute("data-col");
      var visible = Object.prototype.hasOwnProperty.call(saved, col)
        ? !!saved[col] : box.getAttribute("data-default") === "on";
      box.checked = visible;
      show(col, visible);
      box.addEventListener("change", function () {
        saved[col] = box.checked;
        show(col, box.checked);
        save();
      });
    });

    var reset = chooser.querySelector("[data-columns-reset]");
    if (reset) {
      reset.addEventListener("click", function () {
        saved = {};
        save();
        each(boxes, function (box) {
          box.checked = box.getAttribute("data-default") === "on";
          show(box.getAttribute("data-col"), box.checked);
        });
      });
    }
  }

  /* ---- run selection and the Compare button ------------------------------------------- */
  function initCompare(form) {
    var button = document.getElementById("compare-button");
    var count = document.getElementById("selected-count");
    var all = document.getElementById("select-all");
    var boxes = document.querySelectorAll('input[name="runs"][form="compare-form"]');

    function selected() {
      var ids = [];
      each(boxes, function (b) { if (b.checked) { ids.push(b.value); } });
      return ids;
    }
    function update() {
      var n = selected().length;
      if (button) { button.disabled = n < 1; }
      if (count) { count.textContent = n ? n + " selected" : ""; }
    }
    each(boxes, function (b) { b.addEventListener("change", update); });
    if (all) {
      all.addEventListener("change", function () {
        each(boxes, function (b) { b.checked = all.checked; });
        update();
      });
    }
    form.addEventListener("submit", function (event) {
      var ids = selected();
      event.preventDefault();
      if (ids.length) {
        window.location.href = form.getAttribute("action") + "?runs=" +
          ids.map(encodeURIComponent).join(",");
      }
    });
    update();
  }

  /* ---- compare page: only differing rows --------------------------------------------- */
  function initOnlyDiff(box) {
    function apply() {
      each(document.querySelectorAll("table.diffable tr.same"), function (row) {
        row.hidden = box.checked;
      });
    }
    box.addEventListener("change", apply);
    apply();
  }

  function start() {
    localTimes();
    each(document.querySelectorAll(".charts[data-source]"), initCharts);
    var chooser = document.getElementById("column-chooser");
    if (chooser) { initColumnChooser(chooser); }
    var form = document.getElementById("compare-form");
    if (form) { initCompare(form); }
    var onlyDiff = document.getElementById("only-diff");
    if (onlyDiff) { initOnlyDiff(onlyDiff); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
