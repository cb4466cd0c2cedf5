// Polls the account sync's status while a run is queued or running, then reloads the page
// so the table and the outcome are current. No inline script: the CSP allows 'self' only.
(function () {
  "use strict";
  var box = document.getElementById("sync-status");
  if (!box || box.dataset.status !== "running") {
    return;
  }
  var url = box.dataset.statusUrl;
  var runId = box.dataset.runId;
  var delay = 2000;
  var attempts = 0;

  function poll() {
    attempts += 1;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (run) {
        if (run.status !== "running" || String(run.id) !== runId) {
          window.location.reload();
          return;
        }
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    // Back off gently; a stuck run is marked failed by the next sync anyway.
    if (attempts < 600) {
      window.setTimeout(poll, Math.min(delay * Math.ceil(attempts / 10 + 1), 15000));
    }
  }

  schedule();
})();
