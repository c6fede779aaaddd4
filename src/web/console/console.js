// The operator console's progressive enhancement: every page works without this.
(function () {
  "use strict";
  // An error summary takes the focus so a screen reader reads it first.
  var summary = document.querySelector("[data-autofocus]");
  if (summary) { summary.focus(); }
  // Pages that ask for it poll their JSON twin and say when something new arrived.
  var poll = document.querySelector("[data-poll]");
  if (poll && window.fetch) {
    var url = poll.getAttribute("data-poll");
    var seen = poll.getAttribute("data-seen") || "";
    var every = parseInt(poll.getAttribute("data-every") || "15", 10) * 1000;
    var tick = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (v) {
          if (!v) { return; }
          if (!v.stamp || v.stamp === seen) { return; }
          var box = document.getElementById(poll.getAttribute("data-target"));
          var table = document.getElementById(poll.getAttribute("data-refresh") || "");
          // New tickets join the list in place, unless the operator is choosing rows
          // (ticked boxes, focus in the table): then the notice offers a reload.
          var busy = !table || table.querySelector("input:checked") ||
                     table.contains(document.activeElement);
          if (busy) {
            if (box) { box.hidden = false; box.textContent = v.message || box.textContent; }
            return;
          }
          fetch(window.location.href, { credentials: "same-origin" })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) {
              if (!html) { return; }
              var fresh = new DOMParser().parseFromString(html, "text/html")
                .getElementById(table.id);
              if (!fresh) { return; }
              table.innerHTML = fresh.innerHTML;
              seen = v.stamp;
              if (box) { box.hidden = false; box.textContent = poll.getAttribute("data-added") || ""; }
            });
        })
        .catch(function () {});
    };
    setInterval(tick, every);
  }
  // Presence: say we have the ticket open, and when we type.
  var presence = document.querySelector("[data-presence]");
  if (presence && window.fetch) {
    var purl = presence.getAttribute("data-presence");
    var csrf = document.body.getAttribute("data-csrf") || "";
    var state = "viewing";
    var send = function () {
      var body = new URLSearchParams();
      body.set("state", state);
      fetch(purl, { method: "POST", credentials: "same-origin", body: body,
                    headers: { "X-CSRF-Token": csrf, "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (v) {
          var box = document.getElementById("presence");
          if (!v || !box) { return; }
          if (v.others && v.others.length) {
            box.hidden = false;
            box.textContent = v.message;
          } else {
            box.hidden = true;
          }
        })
        .catch(function () {});
    };
    var reply = document.getElementById("reply-text");
    if (reply) {
      reply.addEventListener("input", function () {
        if (state !== "writing") { state = "writing"; send(); }
      });
    }
    send();
    setInterval(send, 20000);
  }
})();
