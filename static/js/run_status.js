// Polls a background run (account sync, "Verify in AWS now", external-access scan) while it
// is queued or running, shows its progress, then reloads the page so what the run changed is
// shown. One script for every such box: an element with `data-run-poll`, whose
// `data-status` is "running" and `data-status-url` answers the run's JSON ({status, id,
// accounts_done, accounts_total, percent}); `data-run-id`, when set, must match the answer's
// id (another run means this one ended). Inside it, [data-run-done], [data-run-total] and
// [data-run-percent] are kept current. No inline script: the CSP allows 'self' only.
(function () {
  "use strict";

  function watch(box) {
    if (box.dataset.status !== "running" || !box.dataset.statusUrl) {
      return;
    }
    var url = box.dataset.statusUrl;
    var runId = box.dataset.runId || "";
    var attempts = 0;

    function show(run) {
      var fields = { "data-run-done": run.accounts_done, "data-run-total": run.accounts_total,
        "data-run-percent": run.percent };
      Object.keys(fields).forEach(function (name) {
        var element = box.querySelector("[" + name + "]");
        if (element && fields[name] !== undefined && fields[name] !== null) {
          element.textContent = String(fields[name]);
        }
      });
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
          if (run.status !== "running" || (runId && String(run.id) !== runId)) {
            window.location.reload();
            return;
          }
          show(run);
          schedule();
        })
        .catch(schedule);
    }

    function schedule() {
      // Back off gently; a run left running by a stopped worker is failed later anyway.
      if (attempts < 600) {
        window.setTimeout(poll, Math.min(1000 * Math.ceil(attempts / 10 + 1), 15000));
      }
    }

    schedule();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-run-poll]"), watch);
})();
