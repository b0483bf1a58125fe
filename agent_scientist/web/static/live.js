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
    source.onerror = function () {  // the server went away or the stream ended: reconnect from our offset
      source.close();
      setTimeout(open, 2000);
    };
  }
  open();
})();
