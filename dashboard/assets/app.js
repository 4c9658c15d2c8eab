// supportd dashboard: live countdowns. Each element with data-due (Unix ms)
// shows the time left until it, and its row is marked overdue once it passes.
// No network requests, no state changes: the page only reads.
"use strict";
(function () {
  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    s = s % 60;
    var out = d > 0 ? d + "d " + h + "h " + m + "m" : h > 0 ? h + "h " + m + "m " + s + "s" : m + "m " + s + "s";
    return ms < 0 ? "overdue by " + out : "in " + out;
  }
  function tick() {
    var now = Date.now();
    var els = document.querySelectorAll("[data-due]");
    for (var i = 0; i < els.length; i++) {
      var left = parseInt(els[i].getAttribute("data-due"), 10) - now;
      els[i].textContent = fmt(left);
      var row = els[i].closest("tr");
      if (row && left < 0 && !row.classList.contains("overdue")) {
        row.classList.add("overdue");
        var badge = row.querySelector(".badge-slot");
        if (badge) { badge.textContent = "OVERDUE"; badge.className = "badge-slot badge overdue-badge"; }
      }
    }
  }
  tick();
  setInterval(tick, 1000);
})();
