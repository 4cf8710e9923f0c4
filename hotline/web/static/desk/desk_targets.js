/* The desk's transfer and consult picker: colleagues with their presence (available,
 * busy, paused, offline), queues with the contacts waiting in them, or a number typed.
 * The lists come from GET /api/calls/targets (hotline/web/call_targets_api.py) and are
 * refreshed while a picker is on screen; desk.js asks a picker for its target text
 * ("agent:<id>", "queue:<name>", "number:<digits>") and shows the server's refusals in
 * it. Everything from the server is shown as text. */
(function () {
  "use strict";

  var REFRESH_MS = 5000;
  var PRESENCE = { available: "available", busy: "busy", paused: "paused", offline: "offline" };
  var shared = { data: null, at: 0, loading: null, pickers: [], timer: null };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function option(value, label) {
    var o = el("option", "", label);
    o.value = value;
    return o;
  }

  // The lists, at most every REFRESH_MS / 2 from the server unless forced.
  function load(force) {
    if (shared.loading) { return shared.loading; }
    if (!force && shared.data && Date.now() - shared.at < REFRESH_MS / 2) {
      return Promise.resolve(shared.data);
    }
    shared.loading = fetch("/api/calls/targets", { credentials: "same-origin" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) { throw new Error(data.error || ("error " + response.status)); }
          shared.data = data;
          shared.at = Date.now();
          return data;
        });
      })
      .finally(function () { shared.loading = null; });
    return shared.loading;
  }

  function agentLabel(a) {
    var presence = PRESENCE[a.presence] || a.presence;
    if (a.presence === "paused" && a.reason) { presence += " (" + a.reason + ")"; }
    return a.name + " — " + presence;
  }

  function queueLabel(q) {
    return "Queue " + q.name + " — " + q.waiting + " waiting" +
      (q.agents_free ? ", " + q.agents_free + " free" : "");
  }

  // What the desk's hello said (names only), until the server's lists arrive.
  function fallback(options) {
    var agents = Object.keys(options.agents || {}).map(function (id) {
      return { id: id, name: options.agents[id], presence: "", reason: null };
    });
    var queues = (options.queues || []).map(function (q) { return { name: q, waiting: null }; });
    return { agents: agents, queues: queues, numbers: true, partial: true };
  }

  function fill(p, data) {
    var chosen = p.to.value || p.wanted;
    p.to.textContent = "";
    if (data.numbers !== false) { p.to.appendChild(option("number", "Number…")); }
    var colleagues = el("optgroup");
    colleagues.label = "Colleagues";
    data.agents.forEach(function (a) {
      var o = option("agent:" + a.id, data.partial ? a.name : agentLabel(a));
      o.dataset.presence = a.presence || "";
      colleagues.appendChild(o);
    });
    var queues = el("optgroup");
    queues.label = "Queues";
    data.queues.forEach(function (q) {
      var o = option("queue:" + q.name, q.waiting === null ? "Queue " + q.name : queueLabel(q));
      if (q.waiting !== null) { o.dataset.waiting = String(q.waiting); }
      queues.appendChild(o);
    });
    if (colleagues.children.length) { p.to.appendChild(colleagues); }
    if (queues.children.length) { p.to.appendChild(queues); }
    p.to.value = chosen;
    if (p.to.value !== chosen) { p.to.selectedIndex = 0; }  // gone since: back to the first
    p.wanted = null;
    p.node.dataset.loaded = data.partial ? "partial" : "true";
    shown(p);
  }

  function shown(p) {
    p.number.hidden = p.to.value !== "number";
    var picked = p.to.selectedOptions[0];
    p.node.dataset.presence = picked && picked.dataset.presence ? picked.dataset.presence : "";
  }

  function refreshAll(force) {
    // A picker leaves when the panel redraws; a new one is not in the page yet.
    shared.pickers = shared.pickers.filter(function (p) {
      if (p.node.isConnected) { p.shown = true; }
      return p.node.isConnected || !p.shown;
    });
    if (!shared.pickers.length) {
      clearInterval(shared.timer);
      shared.timer = null;
      return Promise.resolve();
    }
    return load(force).then(function (data) {
      shared.pickers.forEach(function (p) {
        // not under the agent's hand: a list rebuilt while open would close on them
        if (!p.shown || document.activeElement !== p.to) { fill(p, data); }
      });
    }).catch(function (error) {
      shared.pickers.forEach(function (p) {
        p.error("Could not load colleagues and queues: " + error.message);
      });
    });
  }

  // A picker; `options.before`: the picker it replaces (the panel redraws: the choice,
  // the number typed and the error stay); options.agents / options.queues: the desk's
  // hello lists, shown until the server's come.
  function picker(options) {
    options = options || {};
    var before = options.before;
    var node = el("div", "targets");
    var to = el("select", "transfer-to");
    to.setAttribute("aria-label", "Transfer or consult to");
    var number = el("input", "transfer-number");
    number.type = "tel";
    number.maxLength = 32;
    number.placeholder = "Number";
    number.setAttribute("aria-label", "Number to call");
    var problem = el("p", "target-error");
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    node.appendChild(to);
    node.appendChild(number);
    node.appendChild(problem);
    var p = {
      node: node,
      to: to,
      number: number,
      wanted: before ? before.to.value : "number",
      // "agent:<id>", "queue:<name>" or "number:<digits as typed>"
      target: function () {
        return to.value === "number" ? "number:" + number.value.trim() : to.value;
      },
      error: function (text) {
        problem.textContent = text || "";
        problem.hidden = !text;
        node.dataset.error = text ? "true" : "false";
      },
    };
    if (before) { number.value = before.number.value; }
    fill(p, shared.data || fallback(options));
    if (before && before.node.dataset.error === "true") {
      p.error(before.node.querySelector(".target-error").textContent);
    }
    to.addEventListener("change", function () { shown(p); p.error(""); });
    number.addEventListener("input", function () { p.error(""); });
    shared.pickers.push(p);
    if (!shared.timer) { shared.timer = setInterval(function () { refreshAll(true); }, REFRESH_MS); }
    setTimeout(function () { refreshAll(!shared.data); }, 0);  // once in the page
    return p;
  }

  window.DeskTargets = { picker: picker, load: load };
}());
