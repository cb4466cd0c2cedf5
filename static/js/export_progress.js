// The PDF binder page follows the worker: while the export is queued or running it polls the
// page's JSON form and shows the progress text (only when it changes, so that a screen reader
// is not told the same thing again), and reloads once the status changes, so everything shown
// is rendered (and escaped) by the server; the reloaded page puts focus on its new heading.
// A reply that is not the export's JSON (signed out, gone, server error) stops the polling and
// says so. Served from this origin: the CSP forbids inline script.
(function () {
  "use strict";
  var section = document.querySelector("[data-export-url]");
  if (!section) { return; }
  var heading = document.getElementById("export-h");
  if (heading && window.location.hash === "#export-h") { heading.focus(); }
  var url = section.getAttribute("data-export-url");
  var shown = section.getAttribute("data-status");
  var live = section.querySelector("[data-live]");
  var problem = section.querySelector("[data-poll-error]");
  if (["queued", "running"].indexOf(shown) < 0) { return; }
  var delay = 1000;
  var failures = 0;

  function stop() {
    if (problem) { problem.hidden = false; }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        var json = (r.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!r.ok || !json || r.redirected) { return Promise.reject(r.status); }
        return r.json();
      })
      .then(function (data) {
        failures = 0;
        if (data.status !== shown) {
          window.history.replaceState(null, "", "#export-h");
          window.location.reload();
          return;
        }
        if (live && data.progress && live.textContent !== data.progress) {
          live.textContent = data.progress;
        }
        delay = Math.min(delay * 1.5, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function (status) {
        // A network hiccup is tried again a few times; an answer that is not ours stops it.
        failures += 1;
        if (typeof status === "number" || failures > 3) { stop(); return; }
        window.setTimeout(poll, 15000);
      });
  }
  window.setTimeout(poll, delay);
})();
