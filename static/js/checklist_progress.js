// The review form's checklist count follows the radios as they are chosen, before saving: each
// section's "N of M answered" and the total with its bar. The server writes the same counts
// (from the saved answers, or the ones just sent back with errors), so the page reads the same
// without script. The CSP forbids inline script, hence this file.
(function () {
  "use strict";
  var form = document.getElementById("review-form");
  if (!form) { return; }
  var total = form.querySelector("[data-testid=checklist-progress]");
  var bar = form.querySelector(".checklist-progress progress");

  function update() {
    var all = 0;
    var done = 0;
    form.querySelectorAll("section.checklist-section").forEach(function (section) {
      var items = section.querySelectorAll("fieldset.item");
      var answered = 0;
      items.forEach(function (item) {
        if (item.querySelector("input[type=radio]:checked")) { answered += 1; }
      });
      var count = section.querySelector(".section-count");
      if (count) { count.textContent = answered + " of " + items.length + " answered"; }
      all += items.length;
      done += answered;
    });
    if (total) { total.textContent = done + " of " + all + " answered"; }
    if (bar) { bar.max = all; bar.value = done; bar.textContent = done + " of " + all; }
  }

  form.addEventListener("change", function (event) {
    if (event.target && event.target.type === "radio") { update(); }
  });
})();
