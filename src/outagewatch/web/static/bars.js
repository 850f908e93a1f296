// The daily bars: one tab stop per strip, arrow keys (and Home/End) move between days,
// and the focused or hovered day's label is shown under the strip. Without this script
// every bar is its own tab stop and the label is the button's title: nothing is lost.
(function () {
  "use strict";
  function setup(strip) {
    var group = strip.querySelector(".bars");
    var caption = strip.querySelector(".bar-caption");
    var bars = Array.prototype.slice.call(group.querySelectorAll(".bar"));
    if (!bars.length) { return; }
    function show(bar) { caption.textContent = bar.getAttribute("aria-label"); }
    function focusAt(index) {
      var next = bars[Math.max(0, Math.min(bars.length - 1, index))];
      bars.forEach(function (bar) { bar.tabIndex = bar === next ? 0 : -1; });
      next.focus();
    }
    bars.forEach(function (bar, i) {
      bar.tabIndex = i === bars.length - 1 ? 0 : -1;
      bar.addEventListener("focus", function () { show(bar); });
      bar.addEventListener("mouseenter", function () { show(bar); });
      bar.addEventListener("click", function () { show(bar); });
    });
    group.addEventListener("keydown", function (event) {
      var at = bars.indexOf(document.activeElement);
      if (at < 0) { return; }
      var moves = { ArrowLeft: at - 1, ArrowRight: at + 1, ArrowUp: at - 1, ArrowDown: at + 1, Home: 0, End: bars.length - 1 };
      if (event.key in moves) { event.preventDefault(); focusAt(moves[event.key]); }
    });
  }
  document.querySelectorAll(".strip").forEach(setup);
})();
