/* mloop UI: what the uPlot charts of several pages share: value formats for axes and
 * legends (ms/s, percent, dollars in full, plain numbers) and a y axis as wide as its
 * longest label, so "$1234.50" or "2.50 s" is never cut. Load it before the page's own
 * chart script; it defines window.mloopChartFormat. Plain ES2017, no dependencies. */
(function () {
  "use strict";

  // Dollars in full, never in exponent notation: enough decimals for the value's first
  // two significant digits ($0.00042), two for cents, none from $100.
  function usd(v) {
    var a = Math.abs(v);
    if (a === 0) { return "$0"; }
    if (a >= 100) { return "$" + v.toFixed(0); }
    if (a >= 1) { return "$" + v.toFixed(2); }
    var digits = Math.min(Math.max(Math.ceil(-Math.log10(a)) + 1, 2), 12);
    return "$" + v.toFixed(digits).replace(/(\.\d*?[1-9])0+$/, "$1");
  }

  function milliseconds(v) {
    var a = Math.abs(v);
    if (a >= 1000) { return (v / 1000).toFixed(a >= 10000 ? 1 : 2) + " s"; }
    return (a >= 10 ? v.toFixed(0) : String(Number(v.toPrecision(2)))) + " ms";
  }

  function percent(v) { return (v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 0) + "%"; }

  function plain(v) { return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3))); }

  // A formatter for a chart's "format" (usd, ms, pct, or anything else: plain numbers);
  // missing and non-finite values read as "".
  function formatter(kind) {
    var fn = kind === "usd" ? usd : kind === "ms" ? milliseconds : kind === "pct" ? percent : plain;
    return function (v) {
      if (v === null || v === undefined || !isFinite(v)) { return ""; }
      return fn(v);
    };
  }

  // The y axis's width from its labels as drawn: uPlot calls this with the tick labels of
  // each layout pass; the axis keeps the widest so the plot does not jump.
  function axisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1 && axis._size) { return axis._size; }
    var widest = 0;
    u.ctx.save();
    u.ctx.font = axis.font[0];
    (values || []).forEach(function (text) {
      widest = Math.max(widest, u.ctx.measureText(String(text)).width / window.devicePixelRatio);
    });
    u.ctx.restore();
    return Math.ceil(axis.ticks.size + axis.gap + widest + 8);
  }

  window.mloopChartFormat = { usd: usd, milliseconds: milliseconds, formatter: formatter, axisSize: axisSize };
})();
