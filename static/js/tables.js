/* Tables wider than a narrow screen scroll sideways inside their own box (portal.css). A
   keyboard user scrolls such a box only once it can take focus: each box that overflows gets
   tabindex=0 (marked data-scrolls), and loses it again when it fits. */
(function () {
  "use strict";
  // The admin's inline groups and preformatted values scroll the same way (Django's CSS).
  var BOXES = "main table, .table-scroll, .map-scroll, main pre, .inline-group";

  function mark() {
    document.querySelectorAll(BOXES).forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        if (!box.hasAttribute("tabindex")) {
          box.tabIndex = 0;
          box.dataset.scrolls = "";
        }
      } else if ("scrolls" in box.dataset) {
        box.removeAttribute("tabindex");
        delete box.dataset.scrolls;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("resize", mark);
})();
