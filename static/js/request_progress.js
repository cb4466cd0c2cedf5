// The request page follows fulfilment live: while the request is queued or being provisioned it
// polls the progress endpoint and reloads the page once the status changes, so everything shown
// is rendered (and escaped) by the server. Served from this origin: the CSP forbids inline script.
(function () {
  "use strict";
  var section = document.querySelector("[data-progress-url]");
  if (!section) { return; }
  var url = section.getAttribute("data-progress-url");
  var shown = section.getAttribute("data-status");
  var live = section.querySelector("[data-live]");
  var waiting = ["approved", "provisioning"];
  if (waiting.indexOf(shown) < 0) { return; }
  var delay = 2000;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (data.status !== shown) { window.location.reload(); return; }
        if (live) { live.textContent = "Step: " + String(data.step).replace(/_/g, " ") + "…"; }
        delay = Math.min(delay * 1.5, 15000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 15000); });
  }
  window.setTimeout(poll, delay);
})();
