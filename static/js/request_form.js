// The access request form: show only the fields the chosen strategy uses, only the chosen
// permission source, and a live count of the accounts the selection matches. Served from this
// origin (the content security policy forbids inline script). Without JavaScript every field
// shows and the server ignores the ones the strategy does not use.
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  if (!form) { return; }
  var uses = JSON.parse(document.getElementById("strategy-fields-data").textContent);
  var countEl = document.getElementById("account-count");
  var countUrl = form.getAttribute("data-count-url");

  function checked(name) {
    return Array.prototype.map.call(
      form.querySelectorAll('input[name="' + name + '"]:checked'), function (i) { return i.value; });
  }

  function showGroups() {
    var strategy = checked("strategy")[0] || "role_per_account";
    var used = uses[strategy] || [];
    form.querySelectorAll("[data-group]").forEach(function (el) {
      el.hidden = used.indexOf(el.getAttribute("data-group")) < 0;
    });
    form.querySelectorAll("[data-strategy]").forEach(function (el) {
      el.hidden = el.getAttribute("data-strategy") !== strategy;
    });
    var source = checked("policy_source")[0] || "managed";
    form.querySelectorAll("[data-source]").forEach(function (el) {
      el.hidden = el.getAttribute("data-source") !== source;
    });
    if (used.indexOf("accounts") >= 0) { refreshCount(); }
  }

  var pending = null;
  function refreshCount() {
    if (!countEl || !countUrl) { return; }
    var params = new URLSearchParams();
    // Nothing ticked is no account (the server refuses it), never "all of them".
    var missing = [];
    ["domain", "environment", "quality"].forEach(function (key) {
      var values = checked(key === "quality" ? "qualities" : key + "s");
      if (!values.length) { missing.push(key); }
      values.forEach(function (v) { params.append(key, v); });
    });
    if (pending) { pending.abort(); pending = null; }
    if (missing.length) {
      countEl.textContent = "No account chosen yet: tick All or at least one " +
        missing.join(", ") + ".";
      countEl.setAttribute("data-count", "0");
      return;
    }
    pending = new AbortController();
    countEl.textContent = "Counting accounts…";
    fetch(countUrl + "?" + params.toString(), { credentials: "same-origin", signal: pending.signal })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        countEl.textContent = data.count + (data.count === 1 ? " account matches" : " accounts match") +
          " this selection.";
        countEl.setAttribute("data-count", String(data.count));
      })
      .catch(function (err) { if (err && err.name === "AbortError") { return; } countEl.textContent = "Could not count the accounts."; });
  }

  // "All" and some values of one list are exclusive (the server refuses the mix): ticking All
  // unticks the others, ticking a value unticks All.
  function exclusiveAll(event) {
    var box = event.target;
    if (!box || box.type !== "checkbox" || !box.checked ||
        ["domains", "environments", "qualities"].indexOf(box.name) < 0) { return; }
    form.querySelectorAll('input[name="' + box.name + '"]:checked').forEach(function (other) {
      if (other !== box && (box.value === "*" || other.value === "*")) { other.checked = false; }
    });
  }

  form.addEventListener("change", function (event) { exclusiveAll(event); showGroups(); });
  showGroups();
})();
