// Live log lines over Server-Sent Events: a running run's page, and a followed log search. Lines are added as
// text, never as markup.
(function () {
  "use strict";
  var log = document.getElementById("log");
  if (!log || !window.EventSource) return;
  var after = "after=" + encodeURIComponent(log.dataset.after || "0");

  // One line as the page shows it: its time (and, in a search, its job and machine), then its text.
  function lines(source, label) {
    source.addEventListener("line", function (e) {
      var line = JSON.parse(e.data);
      var div = document.createElement("div");
      div.className = "line " + line.level;
      var at = document.createElement("span");
      at.className = "at";
      at.textContent = label(line);
      div.appendChild(at);
      div.appendChild(document.createTextNode(" " + line.text));
      var atBottom = window.innerHeight + window.scrollY >= document.body.offsetHeight - 40;
      log.appendChild(div);
      if (atBottom) window.scrollTo(0, document.body.scrollHeight);
    });
  }

  if (log.dataset.follow === "1") {
    lines(new EventSource("/logs/events?" + log.dataset.query + "&" + after), function (line) {
      return line.at + " " + line.job + " " + line.machine;
    });
    return;
  }
  if (log.dataset.live !== "1") return;
  var status = document.getElementById("live-status");
  var state = document.getElementById("run-state");
  var source = new EventSource("/runs/" + encodeURIComponent(log.dataset.run) + "/events?" + after);
  lines(source, function (line) { return line.at; });
  function show(now) { if (state) { state.textContent = now; state.className = "state " + now; } }
  source.addEventListener("state", function (e) { show(JSON.parse(e.data).state); });
  source.addEventListener("end", function (e) {
    var end = JSON.parse(e.data).state;
    source.close();
    show(end);
    if (status) status.textContent = "The run has ended: " + end + ".";
    log.dataset.live = "";
  });
})();
