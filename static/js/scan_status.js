// Polls the external-access scan while one is queued or running, showing how many accounts
// are read, then reloads the page so the findings are current. No inline script (CSP).
(function () {
  "use strict";
  var box = document.getElementById("scan-status");
  if (!box || box.dataset.status !== "running") {
    return;
  }
  var url = box.dataset.statusUrl;
  var runId = box.dataset.runId;
  var attempts = 0;

  function show(run) {
    var done = box.querySelector("[data-scan-done]");
    var total = box.querySelector("[data-scan-total]");
    if (done && total) {
      done.textContent = String(run.accounts_done);
      total.textContent = String(run.accounts_total);
    }
  }

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
        show(run);
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    if (attempts < 600) {
      window.setTimeout(poll, Math.min(2000 * Math.ceil(attempts / 10 + 1), 15000));
    }
  }

  schedule();
})();
