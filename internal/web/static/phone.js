// The phone sign-in page's status channel: wait for the request to leave "pending",
// then load the page again, which completes the sign-in or shows the outcome. A
// WebSocket first; server-sent events where it cannot connect; a reload as the last
// resort. Without scripts the page offers a Continue link instead (<noscript>).
(function () {
  "use strict";
  var el = document.getElementById("phone-status");
  if (!el) { return; }
  var status = new URL(el.dataset.status, window.location.href);
  var next = el.dataset.next;
  var finished = false;
  function finish(state) {
    if (finished || !state || state === "pending") { return; }
    finished = true;
    window.location.replace(next);
  }
  function events() {
    if (!("EventSource" in window)) { setTimeout(function () { window.location.reload(); }, 3000); return; }
    var es = new EventSource(status.href);
    es.addEventListener("state", function (e) { es.close(); finish(e.data); });
    es.onerror = function () { es.close(); if (!finished) { setTimeout(function () { window.location.reload(); }, 3000); } };
  }
  if (!("WebSocket" in window)) { events(); return; }
  var wsURL = new URL(status.href);
  wsURL.protocol = wsURL.protocol === "https:" ? "wss:" : "ws:";
  var got = false;
  var sock = new WebSocket(wsURL.href);
  sock.onmessage = function (e) { got = true; finish(e.data); };
  sock.onclose = function () { if (!got && !finished) { events(); } };
})();
