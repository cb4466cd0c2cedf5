// The PDF binder page follows the worker: while the export is queued or running it polls the
// page's JSON form, shows the progress text, and reloads once the status changes, so everything
// shown is rendered (and escaped) by the server. Served from this origin: the CSP forbids
// inline script.
(function () {
  "use strict";
  var section = document.querySelector("[data-export-url]");
  if (!section) { return; }
  var url = section.getAttribute("data-export-url");
  var shown = section.getAttribute("data-status");
  var live = section.querySelector("[data-live]");
  if (["queued", "running"].indexOf(shown) < 0) { return; }
  var delay = 1000;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (data.status !== shown) { window.location.reload(); return; }
        if (live && data.progress) { live.textContent = data.progress; }
        delay = Math.min(delay * 1.5, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 15000); });
  }
  window.setTimeout(poll, delay);
})();
