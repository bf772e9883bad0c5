// Live log lines for a running run's page, over Server-Sent Events. Lines are added as text, never as markup.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !window.EventSource) return;
  if (log.dataset.follow === "1") { follow(log); return; }
  if (log.dataset.live !== "1") return;
  var status = document.getElementById("live-status");
  var state = document.getElementById("run-state");
  var source = new EventSource("/runs/" + encodeURIComponent(log.dataset.run) + "/events?after=" +
    encodeURIComponent(log.dataset.after || "0"));
  source.addEventListener("line", function (e) {
    var line = JSON.parse(e.data);
    var div = document.createElement("div");
    div.className = "line " + line.level;
    var at = document.createElement("span");
    at.className = "at";
    at.textContent = line.at;
    div.appendChild(at);
    div.appendChild(document.createTextNode(" " + line.text));
    var atBottom = window.innerHeight + window.scrollY >= document.body.offsetHeight - 40;
    log.appendChild(div);
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  });
  source.addEventListener("state", function (e) {
    var now = JSON.parse(e.data);
    if (state) { state.textContent = now.state; state.className = "state " + now.state; }
  });
  source.addEventListener("end", function (e) {
    var end = JSON.parse(e.data);
    source.close();
    if (state) { state.textContent = end.state; state.className = "state " + end.state; }
    if (status) status.textContent = "The run has ended: " + end.state + ".";
    log.dataset.live = "";
  });

  // A followed log search: every new matching line, with its job and machine, as text.
  function follow(log) {
    var source = new EventSource("/logs/events?" + log.dataset.query + "&after=" + encodeURIComponent(log.dataset.after || "0"));
    source.addEventListener("line", function (e) {
      var line = JSON.parse(e.data);
      var div = document.createElement("div");
      div.className = "line " + line.level;
      var at = document.createElement("span");
      at.className = "at";
      at.textContent = line.at + " " + line.job + " " + line.machine;
      div.appendChild(at);
      div.appendChild(document.createTextNode(" " + line.text));
      log.appendChild(div);
    });
  }
})();
