// finsandbox web UI: confirm dialogs and the playground's streaming chat. No framework, no CDN.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  function escapeText(node, text) { node.textContent = text; return node; }

  function decisionList(decisions) {
    var box = document.createElement("div");
    box.className = "decisions";
    if (!decisions || decisions.length === 0) {
      box.innerHTML = '<span class="badge allow">allow</span> every guard allowed this turn';
      return box;
    }
    decisions.forEach(function (d) {
      var line = document.createElement("div");
      var badge = document.createElement("span");
      badge.className = "badge " + d.action;
      badge.textContent = d.action;
      line.appendChild(badge);
      line.appendChild(document.createTextNode(" " + (d.location || "") + " · " + d.guard + ": " + (d.reason || "")));
      box.appendChild(line);
    });
    return box;
  }

  function setupPlayground(form) {
    var log = document.getElementById("chat-log");
    var history = [];
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var input = form.querySelector("textarea[name=message]");
      var text = input.value.trim();
      if (!text) { return; }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      var userTurn = escapeText(document.createElement("div"), text);
      userTurn.className = "turn user";
      log.appendChild(userTurn);
      var reply = document.createElement("div");
      reply.className = "turn assistant";
      reply.dataset.state = "streaming";
      var body = document.createElement("div");
      body.className = "reply-text";
      reply.appendChild(body);
      log.appendChild(reply);
      history.push({ role: "user", content: text });
      input.value = "";
      var answer = "";
      try {
        var response = await fetch(form.action, {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
          body: JSON.stringify({ endpoint: form.querySelector("select[name=endpoint]").value, messages: history }),
        });
        if (response.status === 401 || response.redirected) { window.location = "/login?next=" + encodeURIComponent(location.pathname); return; }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        for (;;) {
          var chunk = await reader.read();
          if (chunk.done) { break; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var events = buffer.split("\n\n");
          buffer = events.pop();
          events.forEach(function (raw) {
            if (raw.indexOf("data: ") !== 0) { return; }
            var evt = JSON.parse(raw.slice(6));
            if (evt.type === "delta") { answer += evt.text; body.textContent = answer; }
            if (evt.type === "done" || evt.type === "error") {
              if (evt.type === "error") {
                var err = escapeText(document.createElement("div"), evt.message);
                err.className = "error";
                reply.appendChild(err);
              }
              reply.appendChild(decisionList(evt.decisions));
              if (evt.ledger_seq) {
                var seq = document.createElement("div");
                seq.className = "muted small";
                seq.textContent = "ledger entry " + evt.ledger_seq;
                reply.appendChild(seq);
              }
              reply.dataset.state = evt.type;
            }
          });
        }
        if (answer) { history.push({ role: "assistant", content: answer }); } else { history.pop(); }
      } catch (e) {
        var failure = escapeText(document.createElement("div"), "The request failed: " + e);
        failure.className = "error";
        reply.appendChild(failure);
        reply.dataset.state = "error";
        history.pop();
      } finally {
        button.disabled = false;
      }
    });
  }

  // Sortable tables: click a header with data-sort ("num" or "text"); cells may carry data-value.
  function cellValue(row, index, kind) {
    var cell = row.children[index];
    if (!cell) { return kind === "num" ? -Infinity : ""; }
    var raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    if (kind === "num") { var n = parseFloat(String(raw).replace(/[^0-9.eE+-]/g, "")); return isNaN(n) ? -Infinity : n; }
    return String(raw).toLowerCase();
  }
  document.addEventListener("click", function (event) {
    var th = event.target.closest && event.target.closest("th[data-sort]");
    if (!th) { return; }
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var kind = th.dataset.sort;
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.children.length > 1; });
    rows.sort(function (a, b) {
      var x = cellValue(a, index, kind), y = cellValue(b, index, kind);
      return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
  // Filter boxes: <input class="table-filter" data-filter="TABLE_ID"> hides rows without the text.
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("table-filter")) { return; }
    var table = document.getElementById(box.dataset.filter);
    if (!table) { return; }
    var needle = box.value.trim().toLowerCase();
    Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
      r.hidden = needle !== "" && r.textContent.toLowerCase().indexOf(needle) === -1;
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("playground");
    if (form) { setupPlayground(form); }
  });
})();
