/* mloop UI, alerts page: the timeline of alerts raised per hour or day, stacked by severity
 * (critical red, warning amber, info blue), drawn by stacked_bars.js from the page's
 * <script type="application/json" id="alert-timeline"> block; and filter menus that apply at
 * once. Plain ES2017. */
(function () {
  "use strict";

  var COLORS = { critical: "#d62728", warning: "#ff9f1c", info: "#1f77b4" };
  var drawn = null;
  window.mloopAlertTimeline = function () { return drawn; };  // read by the browser tests

  function start() {
    var holder = document.querySelector('.al-chart[data-chart-id="timeline"]');
    drawn = window.mloopStackedBars("alert-timeline", holder, COLORS, "the timeline could not be drawn");
    // The filter menus apply at once (the Filter button works without scripts too).
    var form = document.getElementById("alert-filters");
    if (form) {
      Array.prototype.forEach.call(form.querySelectorAll("select"), function (select) {
        select.addEventListener("change", function () { form.submit(); });
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
