/* mloop experiment chart view: one metric's curves for every run shown (uPlot, drawn by
 * app.js's chart code), a scatter of that metric's latest value against a param (uPlot),
 * and parallel coordinates over params and the metric (SVG, drawn here).
 *
 * The page embeds its data as JSON (#xchart-data); choosing another metric loads the same
 * shape from the chart-data route (#xcharts[data-url] plus &metric=). Every name and value
 * from the data reaches the page as text (textContent, SVG text nodes), never as markup.
 * Plain ES2017, no build step, no dependencies beyond the vendored uPlot. */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var SCATTER_HEIGHT = 260;
  var PC_HEIGHT = 320;
  var POINT_COLOR = "#1f77b4";
  var LOW = [49, 54, 149];    // line colour of the lowest metric value (blue)
  var HIGH = [215, 48, 39];   // and of the highest (red)
  var MISSING = "#9aa3ad";    // a run without the metric
  var MAX_READOUT = 10;       // runs listed under the scatter for one x value

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function shorten(text, limit) {
    text = String(text);
    return text.length <= limit ? text : text.slice(0, limit - 1) + "…";
  }

  function fmt(v) {
    if (v === null || v === undefined) { return "–"; }
    if (typeof v !== "number") { return String(v); }
    if (Number.isInteger(v) && Math.abs(v) < 1e15) { return String(v); }
    return String(Number(v.toPrecision(4)));
  }

  function isNumeric(v) {
    return typeof v === "string" && v.trim() !== "" && isFinite(Number(v));
  }

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function mix(t) {
    var c = LOW.map(function (lo, i) { return Math.round(lo + (HIGH[i] - lo) * t); });
    return "rgb(" + c.join(",") + ")";
  }

  /* ---- axes of the parallel-coordinates chart ----------------------------------------- */

  // An axis over one param (strings, undefined when missing) or the metric (numbers, null).
  // Numeric when every present value is a number; else categories in natural order, with
  // "(none)" for runs that lack the param. pos() gives 0 (bottom) to 1 (top), or null.
  function makeAxis(key, kind, values) {
    var present = values.filter(function (v) { return v !== undefined && v !== null; });
    var numeric = kind === "metric" || (present.length > 0 && present.every(isNumeric));
    var axis = { key: key, kind: kind, numeric: numeric };
    if (numeric) {
      var nums = present.map(Number);
      axis.min = nums.length ? Math.min.apply(null, nums) : 0;
      axis.max = nums.length ? Math.max.apply(null, nums) : 1;
      axis.pos = function (v) {
        if (v === undefined || v === null || !isFinite(Number(v))) { return null; }
        return axis.max === axis.min ? 0.5 : (Number(v) - axis.min) / (axis.max - axis.min);
      };
    } else {
      var seen = {};
      present.forEach(function (v) { seen[v] = true; });
      var cats = Object.keys(seen).sort(function (a, b) {
        return a.localeCompare(b, undefined, { numeric: true });
      });
      if (present.length < values.length) { cats.push("(none)"); }
      var index = {};
      cats.forEach(function (c, i) { index[c] = i; });
      axis.cats = cats;
      axis.pos = function (v) {
        var i = index[v === undefined || v === null ? "(none)" : v];
        if (i === undefined) { return null; }
        return cats.length === 1 ? 0.5 : i / (cats.length - 1);
      };
    }
    return axis;
  }

  function valueOf(run, axis) {
    return axis.kind === "metric" ? run.metrics[axis.key] : run.params[axis.key];
  }

  function drawParallel(card, data, chosen) {
    var box = card.querySelector(".pc-box");
    var readout = card.querySelector(".xchart-readout");
    box.textContent = "";
    var runs = data.runs;
    var metric = data.metric;
    var axes = chosen.map(function (key) {
      return makeAxis(key, "param", runs.map(function (r) { return r.params[key]; }));
    });
    if (metric) {
      axes.push(makeAxis(metric, "metric", runs.map(function (r) { return r.metrics[metric]; })));
    }
    if (axes.length < 2) {
      var empty = document.createElement("p");
      empty.className = "muted pc-empty";
      empty.textContent = axes.length ? "Tick at least one param above to draw lines across axes."
        : "No params or metrics to draw.";
      box.appendChild(empty);
      return;
    }
    var width = Math.max(box.clientWidth, 320);
    var top = 34, bottom = PC_HEIGHT - 26, left = 60, right = width - 60;
    var step = (right - left) / (axes.length - 1);
    var labelChars = Math.max(6, Math.floor(step / 7.5));
    var root = svgEl("svg", {
      width: width, height: PC_HEIGHT, viewBox: "0 0 " + width + " " + PC_HEIGHT,
      class: "pc", role: "img",
      "aria-label": "Parallel coordinates over " + axes.map(function (a) { return a.key; }).join(", ")
    });
    var lines = svgEl("g", { class: "pc-lines" });
    root.appendChild(lines);
    var last = axes[axes.length - 1];

    function y(p) { return top + (1 - p) * (bottom - top); }

    runs.forEach(function (run) {
      var d = "";
      var pen = false;
      axes.forEach(function (axis, i) {
        var p = axis.pos(valueOf(run, axis));
        if (p === null) { pen = false; return; }
        d += (pen ? "L" : "M") + (left + i * step).toFixed(1) + "," + y(p).toFixed(1);
        pen = true;
      });
      if (!d) { return; }
      var m = metric ? last.pos(run.metrics[metric]) : null;
      var path = svgEl("path", {
        d: d, class: "pc-line", fill: "none", stroke: m === null ? MISSING : mix(m),
        "data-run": run.id
      });
      path.appendChild(svgEl("title", {}, run.label));
      path.addEventListener("mouseenter", function () {
        root.classList.add("pc-focus");
        path.classList.add("hi");
        lines.appendChild(path);  // drawn last: on top of the others
        readout.textContent = run.label + " — " + axes.map(function (a) {
          return a.key + ": " + fmt(valueOf(run, a));
        }).join(" · ");
      });
      path.addEventListener("mouseleave", function () {
        root.classList.remove("pc-focus");
        path.classList.remove("hi");
      });
      path.addEventListener("click", function () { window.location.href = run.url; });
      lines.appendChild(path);
    });

    axes.forEach(function (axis, i) {
      var x = left + i * step;
      var g = svgEl("g", { class: "pc-axis" + (axis.kind === "metric" ? " pc-metric" : "") });
      g.appendChild(svgEl("line", { x1: x, x2: x, y1: top, y2: bottom }));
      var anchor = i === 0 ? "start" : (i === axes.length - 1 ? "end" : "middle");
      var name = svgEl("text", { x: x, y: top - 16, "text-anchor": anchor, class: "pc-name" },
        shorten(axis.key, labelChars));
      name.appendChild(svgEl("title", {}, axis.key));
      g.appendChild(name);
      var side = i === axes.length - 1 ? -5 : 5;
      var tickAnchor = side < 0 ? "end" : "start";
      var ticks = [];
      if (axis.numeric) {
        ticks = [[axis.max, 1], [axis.min, 0]];
        if (axis.max === axis.min) { ticks = [[axis.min, 0.5]]; }
      } else {
        var every = Math.ceil(axis.cats.length / 12);
        axis.cats.forEach(function (c, j) {
          if (j % every === 0 || j === axis.cats.length - 1) { ticks.push([c, axis.pos(c)]); }
        });
      }
      ticks.forEach(function (t) {
        var label = svgEl("text", {
          x: x + side, y: y(t[1]) + 4, "text-anchor": tickAnchor, class: "pc-tick"
        }, shorten(fmt(t[0]), 14));
        label.appendChild(svgEl("title", {}, String(t[0])));
        g.appendChild(label);
      });
      root.appendChild(g);
    });
    box.appendChild(root);
    if (metric) {
      var key = document.createElement("p");
      key.className = "pc-key muted";
      key.textContent = "Line colour: " + metric + " from lowest (blue) to highest (red); grey: no value.";
      box.appendChild(key);
    }
  }

  /* ---- scatter: the metric's latest value against a param ---------------------------- */

  function drawScatter(card, data, param, logX) {
    var holder = card.querySelector(".chart-canvas");
    var readout = card.querySelector(".xchart-readout");
    if (card._uplot) { card._uplot.destroy(); card._uplot = null; }
    holder.textContent = "";
    var metric = data.metric;
    var pts = data.runs.filter(function (r) {
      return metric && r.metrics[metric] !== undefined && r.metrics[metric] !== null &&
        param && r.params[param] !== undefined;
    });
    var note = card.querySelector(".chart-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "chart-note muted";
      card.insertBefore(note, readout);
    }
    var left = data.runs.length - pts.length;
    note.textContent = left ? left + " run(s) without a value of both left out" : "";
    if (!pts.length) {
      holder.textContent = "No run has both " + (metric || "a metric") + " and " + (param || "a param") + ".";
      return;
    }
    var numeric = pts.every(function (r) { return isNumeric(r.params[param]); });
    var cats = null;
    var index = {};
    if (!numeric) {
      var seen = {};
      pts.forEach(function (r) { seen[r.params[param]] = true; });
      cats = Object.keys(seen).sort(function (a, b) {
        return a.localeCompare(b, undefined, { numeric: true });
      });
      cats.forEach(function (c, i) { index[c] = i; });
    }
    function xOf(r) { return numeric ? Number(r.params[param]) : index[r.params[param]]; }
    pts.sort(function (a, b) { return xOf(a) - xOf(b); });
    var xs = pts.map(xOf);
    var ys = pts.map(function (r) { return r.metrics[metric]; });
    var useLog = logX && numeric && xs[0] > 0;
    var xScale = { time: false, distr: useLog ? 3 : 1 };
    var xAxis = { label: shorten(param, 60), labelSize: 20 };
    if (numeric) {
      // Room beyond the outermost points: uPlot draws the points between the indexes of the
      // scale's ends, and with repeated x values at an end it would leave some out.
      var lo = xs[0], hi = xs[xs.length - 1];
      var pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.1 || 1;
      xScale.range = useLog ? function () { return [lo / 2, hi * 2]; }
        : function () { return [lo - pad, hi + pad]; };
      xAxis.values = function (u, splits) {
        return splits.map(function (v) { return v === null || v === undefined ? "" : fmt(v); });
      };
    }
    if (cats) {
      var n = cats.length;
      var every = Math.ceil(n / 12);
      xScale.range = function () { return [-0.5, n - 0.5]; };
      xAxis.splits = function () {
        return cats.map(function (_, i) { return i; }).filter(function (i) { return i % every === 0; });
      };
      xAxis.values = function (u, splits) {
        return splits.map(function (i) { return shorten(cats[i], 14); });
      };
    }
    var width = Math.max(holder.clientWidth, 280);
    var opts = {
      width: width,
      height: SCATTER_HEIGHT,
      legend: { show: false },
      scales: { x: xScale },
      axes: [xAxis, { label: shorten(metric, 40), labelSize: 20, size: 60 }],
      series: [
        { label: param },
        {
          label: metric,
          stroke: POINT_COLOR,
          paths: function () { return null; },
          points: { show: true, size: 8, space: 0, fill: POINT_COLOR, stroke: POINT_COLOR }
        }
      ],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setCursor: [function (u) {
          var i = u.cursor.idx;
          if (i === null || i === undefined) { return; }
          showRuns(readout, pts.filter(function (r) { return xOf(r) === xs[i]; }), param, metric);
        }]
      }
    };
    card._uplot = new window.uPlot(opts, [xs, ys], holder);
  }

  // Whether a param's values are positive numbers spanning two orders of magnitude or more
  // (learning rates, regularisation strengths): these read best on a log scale.
  function spansDecades(runs, param) {
    var xs = [];
    for (var i = 0; i < runs.length; i++) {
      var v = runs[i].params[param];
      if (v === undefined) { continue; }
      if (!isNumeric(v) || Number(v) <= 0) { return false; }
      xs.push(Number(v));
    }
    return xs.length > 1 && Math.max.apply(null, xs) / Math.min.apply(null, xs) >= 100;
  }

  // Lists the runs at one x value under the scatter, each a link to its run page.
  function showRuns(readout, runs, param, metric) {
    readout.textContent = param + " = " + shorten(runs[0].params[param], 60) + ": ";
    runs.slice(0, MAX_READOUT).forEach(function (r, i) {
      if (i) { readout.appendChild(document.createTextNode(" · ")); }
      var a = document.createElement("a");
      a.href = r.url;
      a.textContent = shorten(r.label, 60);
      a.title = r.label;
      readout.appendChild(a);
      readout.appendChild(document.createTextNode(" " + metric + " " + fmt(r.metrics[metric])));
    });
    if (runs.length > MAX_READOUT) {
      readout.appendChild(document.createTextNode(" and " + (runs.length - MAX_READOUT) + " more"));
    }
  }

  /* ---- the page ------------------------------------------------------------------------ */

  function start() {
    var root = document.getElementById("xcharts");
    var source = document.getElementById("xchart-data");
    if (!root || !source || typeof window.uPlot !== "function" || !window.mloopCharts) { return; }
    var data = JSON.parse(source.textContent);
    var metricSelect = document.getElementById("xchart-metric");
    var paramSelect = document.getElementById("xchart-param");
    var xSelect = document.getElementById("xchart-x");
    var logBox = document.getElementById("xchart-log");
    var logXBox = document.getElementById("xchart-logx");
    var errorBox = document.getElementById("xchart-error");
    var curves = document.getElementById("xchart-curves");
    var scatter = document.getElementById("xchart-scatter");
    var parallel = document.getElementById("xchart-parallel");
    var axisBoxes = parallel.querySelectorAll(".xchart-axes input[type=checkbox]");

    function param() { return paramSelect && !paramSelect.disabled ? paramSelect.value : null; }

    function chosenAxes() {
      var keys = [];
      each(axisBoxes, function (b) { if (b.checked) { keys.push(b.value); } });
      return keys;
    }

    function titles() {
      var metric = data.metric || "–";
      curves.querySelector("h3").firstChild.textContent = (data.metric || "No metrics logged") + " ";
      var s = scatter.querySelector("h3");
      s.textContent = "";
      s.appendChild(document.createTextNode(metric + " "));
      var mid = document.createElement("span");
      mid.className = "muted";
      mid.textContent = "against";
      s.appendChild(mid);
      s.appendChild(document.createTextNode(" " + (param() || "–")));
    }

    function drawCurves() {
      var box = curves.querySelector(".chart-canvas");
      if (curves._uplot) { curves._uplot.destroy(); curves._uplot = null; }
      if (!data.curves) {
        box.textContent = "No run shown here has a metric to plot.";
        return;
      }
      window.mloopCharts.draw(curves, data.curves, xSelect.value, logBox.checked);
    }

    function drawScatterNow() { drawScatter(scatter, data, param(), logXBox.checked); }
    function drawParallelNow() {
      var keys = chosenAxes();
      var count = parallel.querySelector(".xchart-axes-count");
      if (count) { count.textContent = keys.length + " of " + axisBoxes.length + " params"; }
      drawParallel(parallel, data, keys);
    }

    function drawAll() {
      titles();
      drawCurves();
      drawScatterNow();
      drawParallelNow();
    }

    // The address bar follows the choices, so a view can be bookmarked or shared.
    function remember() {
      var url = new URL(window.location.href);
      if (data.metric) { url.searchParams.set("metric", data.metric); }
      if (param()) { url.searchParams.set("param", param()); }
      window.history.replaceState(null, "", url.pathname + url.search);
    }

    function showError(message) {
      errorBox.textContent = message || "";
      errorBox.hidden = !message;
    }

    function load(metric) {
      var url = new URL(root.getAttribute("data-url"), window.location.href);
      url.searchParams.set("metric", metric);
      root.classList.add("loading");
      fetch(url.pathname + url.search, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          return response.json().then(function (body) {
            if (!response.ok) {
              throw new Error(body && body.error ? body.error.message : "HTTP " + response.status);
            }
            return body;
          });
        })
        .then(function (body) {
          data = body;
          showError(null);
          var note = document.getElementById("xchart-note");
          if (note) { note.hidden = true; }
          drawAll();
          remember();
        })
        .catch(function (err) { showError("Could not load the chart data: " + err.message); })
        .then(function () { root.classList.remove("loading"); });
    }

    if (metricSelect) {
      metricSelect.addEventListener("change", function () { load(metricSelect.value); });
    }
    // A new param starts on the scale that suits it; the box still overrides.
    function suggestScale() { logXBox.checked = !!param() && spansDecades(data.runs, param()); }

    if (paramSelect) {
      paramSelect.addEventListener("change", function () {
        suggestScale();
        titles();
        drawScatterNow();
        remember();
      });
    }
    xSelect.addEventListener("change", drawCurves);
    logBox.addEventListener("change", drawCurves);
    logXBox.addEventListener("change", drawScatterNow);
    each(axisBoxes, function (b) { b.addEventListener("change", drawParallelNow); });

    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { drawCurves(); drawScatterNow(); drawParallelNow(); }, 150);
    });
    suggestScale();
    drawAll();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
