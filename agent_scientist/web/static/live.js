// The live view of a workspace: steps arrive over server-sent events and are appended; the page never reloads.
(function () {
  "use strict";
  var ws = document.getElementById("ws");
  if (!ws || !window.EventSource) { return; }
  var status = document.getElementById("status");
  var steps = document.getElementById("steps");
  var offset = ws.getAttribute("data-offset");
  var n = ws.getAttribute("data-n");
  var source = null;
  var calls = document.getElementById("inflight");
  function tick() {  // each call's seconds in flight, counted here between the server's rewrites
    var shown = calls.querySelectorAll(".elapsed[data-since]");
    for (var i = 0; i < shown.length; i++) {
      var since = parseFloat(shown[i].getAttribute("data-since"));
      shown[i].textContent = Math.max(0, Math.round(Date.now() / 1000 - since)) + " s";
    }
  }
  setInterval(tick, 1000);
  function open() {
    source = new EventSource(ws.getAttribute("data-events") + "&offset=" + offset + "&n=" + n);
    source.addEventListener("step", function (e) {
      var data = JSON.parse(e.data);
      offset = data.offset;
      var holder = document.createElement("div");
      holder.innerHTML = data.html;  // rendered and escaped by the server's template
      while (holder.firstChild) { steps.appendChild(holder.firstChild); }
      n = steps.children.length;
    });
    source.addEventListener("status", function (e) {
      var data = JSON.parse(e.data);
      var was = ws.getAttribute("data-status");
      status.textContent = data.text;
      status.className = "status status-" + data.status;
      ws.setAttribute("data-status", data.status);
      if (was === "running" && data.status !== "running" && !document.getElementById("ended")) {
        var note = document.createElement("a");  // the report is drawn once; say where the final one is
        note.id = "ended";
        note.href = window.location.pathname + window.location.search;
        note.textContent = " The run ended: reload for its report.";
        status.parentNode.insertBefore(note, status.nextSibling);
      }
    });
    source.addEventListener("inflight", function (e) {
      calls.innerHTML = JSON.parse(e.data).html;  // rendered and escaped by the server's template
      tick();
    });
    source.onerror = function () {  // the server went away or the stream ended: reconnect from our offset
      source.close();
      setTimeout(open, 2000);
    };
  }
  open();
})();
