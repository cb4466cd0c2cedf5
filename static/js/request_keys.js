// The request page follows an access key on its way (waiting for the IAM user after the merge,
// being created, the link being e-mailed): it polls the key state and reloads the page when it
// changes, so everything shown is rendered (and escaped) by the server. The CSP forbids inline
// script, hence this file.
(function () {
  "use strict";
  var section = document.querySelector("[data-key-state-url]");
  if (!section || section.getAttribute("data-key-waiting") !== "true") { return; }
  var url = section.getAttribute("data-key-state-url");
  var shown = section.getAttribute("data-key-fingerprint");
  var delay = 3000;

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (data.fingerprint !== shown) { window.location.reload(); return; }
        delay = Math.min(delay * 1.5, 30000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 30000); });
  }
  window.setTimeout(poll, delay);
})();
