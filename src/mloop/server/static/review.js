/* mloop UI, review page: work through a queue from the keyboard.
 *
 *   1-9    pick that choice in the highlighted group; the next group is highlighted then
 *          (groups: the label, or one per row of a multi-row case, then the rating)
 *   Enter  submit the answer (Ctrl+Enter in a text field too)
 *   s      skip          e  escalate (opens the note)     t / c  write the answer / a comment
 *   ?      show the keys  Esc  leave a text field, close what is open
 *
 * Every key stands for a button or field that works without this script. On arrival with
 * nothing held, the Start form is posted, so the page opens on a case; the server answers
 * each post with the next item. Plain ES2017, no dependencies. */
(function () {
  "use strict";

  var groups = [];
  var active = 0;

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function radios(group) { return group.querySelectorAll('input[type="radio"]'); }

  function picked(group) {
    return Array.prototype.some.call(radios(group), function (r) { return r.checked; });
  }

  function highlight(index) {
    if (!groups.length) { return; }
    active = Math.max(0, Math.min(index, groups.length - 1));
    each(groups, function (g, i) { g.classList.toggle("rv-active", i === active); });
  }

  // After a pick, the next group still without a pick (or the one after, when all have one).
  function advance(from) {
    for (var i = from + 1; i < groups.length; i++) {
      if (!picked(groups[i])) { highlight(i); return; }
    }
    highlight(Math.min(from + 1, groups.length - 1));
  }

  function pick(n) {
    var group = groups[active];
    if (!group) { return false; }
    var choice = radios(group)[n - 1];
    if (!choice) { return false; }
    choice.checked = true;
    choice.dispatchEvent(new Event("change", { bubbles: true }));
    advance(active);
    return true;
  }

  // "All rows" also fills every row's choices, so the table shows what will be sent.
  function fillRows(value) {
    each(document.querySelectorAll('[data-group^="row-"] input[type="radio"]'), function (r) {
      r.checked = r.value === value;
    });
  }

  function submit(id) {
    var form = document.getElementById(id);
    if (!form || form.getAttribute("data-sent")) { return; }
    if (typeof form.requestSubmit === "function") { form.requestSubmit(); } else { form.submit(); }
  }

  function typing(target) {
    var tag = target && target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") { return true; }
    if (tag === "INPUT") { return !/^(radio|checkbox|submit|button)$/i.test(target.type); }
    return Boolean(target && target.isContentEditable);
  }

  function focusField(id) {
    var field = document.getElementById(id);
    if (field) { field.focus(); return true; }
    return false;
  }

  function toggleDetails(id, open) {
    var box = document.getElementById(id);
    if (!box) { return null; }
    box.open = open === undefined ? !box.open : open;
    return box;
  }

  function onKey(event) {
    if (event.altKey || event.metaKey || (event.ctrlKey && event.key !== "Enter")) { return; }
    var target = event.target;
    if (event.key === "Escape") {
      if (typing(target)) { target.blur(); }
      toggleDetails("keys", false);
      toggleDetails("escalate", false);
      return;
    }
    if (typing(target)) {
      // Ctrl+Enter sends the answer from its text fields; Enter in a line field posts its
      // own form (the escalation note) as browsers do.
      if (event.key === "Enter" && event.ctrlKey && target.form && target.form.id === "answer-form") {
        event.preventDefault();
        submit("answer-form");
      }
      return;
    }
    var key = event.key;
    if (/^[1-9]$/.test(key)) {
      if (pick(Number(key))) { event.preventDefault(); }
    } else if (key === "Enter") {
      // A focused button or link does its own thing; anywhere else Enter submits the answer.
      var tag = target && target.tagName;
      if (tag === "BUTTON" || tag === "A" || tag === "SUMMARY") { return; }
      if (document.getElementById("answer-form")) {
        event.preventDefault();
        submit("answer-form");
      }
    } else if (key === "s") {
      if (document.getElementById("skip-form")) { event.preventDefault(); submit("skip-form"); }
    } else if (key === "e") {
      if (toggleDetails("escalate", true)) { event.preventDefault(); focusField("escalate-note"); }
    } else if (key === "t") {
      if (focusField("answer-form-text")) { event.preventDefault(); }
    } else if (key === "c") {
      if (focusField("answer-form-comment")) { event.preventDefault(); }
    } else if (key === "?") {
      if (toggleDetails("keys")) { event.preventDefault(); }
    }
  }

  function start() {
    // A form is sent once: a second Enter while the next page loads changes nothing.
    each(document.querySelectorAll("form[method='post']"), function (form) {
      form.addEventListener("submit", function () {
        setTimeout(function () {
          form.setAttribute("data-sent", "true");
          each(form.querySelectorAll("button"), function (b) { b.disabled = true; });
        }, 0);
      });
    });
    var begin = document.getElementById("start-form");
    if (begin && begin.getAttribute("data-autostart") === "true") {
      submit("start-form");
      return;
    }
    groups = Array.prototype.slice.call(document.querySelectorAll("[data-group]"));
    groups.sort(function (a, b) {
      return Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
    });
    each(groups, function (g, i) {
      g.addEventListener("click", function () { highlight(i); });
      g.addEventListener("focusin", function () { highlight(i); });
    });
    var all = document.getElementById("answer-form-choices");
    if (all) {
      all.addEventListener("change", function (event) {
        if (event.target && event.target.name === "choice") { fillRows(event.target.value); }
      });
    }
    var first = groups.findIndex(function (g) { return !picked(g); });
    highlight(first < 0 ? 0 : first);
    document.addEventListener("keydown", onKey);
    window.mloopReview = { active: function () { return groups[active] ? groups[active].getAttribute("data-group") : null; } };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
