// Polls a running "Verify in AWS now" run, shows its progress, then reloads the page so
// the "In AWS" panel is current. No inline script: the CSP allows 'self' only.
(function () {
  "use strict";
  var box = document.getElementById("verify-status");
  if (!box || box.dataset.status !== "running" || !box.dataset.statusUrl) {
    return;
  }
  var url = box.dataset.statusUrl;
  var progress = box.querySelector("[data-testid=verify-progress]");
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
        if (run.status !== "running") {
          window.location.reload();
          return;
        }
        if (progress) {
          progress.textContent =
            run.accounts_done + "/" + run.accounts_total + " accounts (" + run.percent + "%)";
        }
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    // Back off gently; a stuck run is marked failed after an hour anyway.
    if (attempts < 600) {
      window.setTimeout(poll, Math.min(1000 * Math.ceil(attempts / 10 + 1), 10000));
    }
  }

  schedule();
})();
