// Guardian dashboard: live updates from the node's event stream. Without this script every page
// works the same and is fresh on each navigation; with it, a page follows the events it shows.
(function () {
  "use strict";
  var body = document.body;
  var kind = body.getAttribute("data-live");
  if (!kind || !window.EventSource || !window.fetch) { return; }
  var project = body.getAttribute("data-project") || "";
  var state = document.getElementById("live-state");
  var url = "/ui/events" + (project ? "?project=" + encodeURIComponent(project) : "");
  var pending = null;

  function say(text) { if (state) { state.textContent = text; } }

  // Fetches this page again and swaps its main content in place, keeping the scroll position.
  function refresh() {
    pending = null;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Guardian-Refresh": "1" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (next && main) {
          var y = window.scrollY;
          main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes).map(function (n) { return document.importNode(n, true); }));
          window.scrollTo(0, y);
          body.setAttribute("data-refreshed", String(Date.now()));
          say("updated " + new Date().toLocaleTimeString());
        }
      })
      .catch(function () { say("update failed; reload to retry"); });
  }

  function soon() { if (!pending) { pending = setTimeout(refresh, 250); } }

  function relevant(data) {
    if (kind === "mesh") { return true; }
    if (kind === "project") { return data.project === project; }
    return true;
  }

  var source = new EventSource(url);
  source.onopen = function () { say("live"); };
  source.onerror = function () { say("reconnecting…"); };
  source.addEventListener("audit.progress", function (e) {
    var data = JSON.parse(e.data);
    var bars = document.querySelectorAll("progress[data-progress-for]");
    var found = false;
    for (var i = 0; i < bars.length; i++) {
      if (bars[i].getAttribute("data-progress-for") === data.project) {
        bars[i].value = Math.round(parseFloat(data.progress) * 100);
        bars[i].textContent = bars[i].value + "%";
        found = true;
      }
    }
    if (!found && relevant(data) && kind !== "mesh") { soon(); }
  });
  ["audit.queued", "audit.started", "audit.finished", "audit.failed", "result.replicated", "project.summary",
   "project.registered", "project.removed", "finding.dismissed", "finding.restored"].forEach(function (type) {
    source.addEventListener(type, function (e) { if (kind !== "mesh" && relevant(JSON.parse(e.data))) { soon(); } });
  });
  ["member.joined", "member.updated", "member.suspected", "member.recovered", "member.died", "member.left"].forEach(function (type) {
    source.addEventListener(type, function () { if (kind === "mesh") { soon(); } });
  });
})();
