/* mloop UI, automation page: jobs created per hour over the last day, stacked by the status
 * they reached, drawn by stacked_bars.js from the page's
 * <script type="application/json" id="automation-jobs"> block. Plain ES2017. */
(function () {
  "use strict";

  var COLORS = { queued: "#9467bd", running: "#1f77b4", succeeded: "#2ca02c", failed: "#d62728", cancelled: "#7f7f7f" };
  var drawn = null;
  window.mloopAutomationJobs = function () { return drawn; };  // read by the browser tests

  function start() {
    var holder = document.querySelector('.au-chart[data-chart-id="jobs"]');
    drawn = window.mloopStackedBars("automation-jobs", holder, COLORS, "the chart could not be drawn");
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
