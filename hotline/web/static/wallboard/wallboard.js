// The wallboard: one WebSocket (/wallboard/ws) pushes the whole view; we redraw it.
"use strict";

(function () {
  const queuesBody = document.querySelector("#queues tbody");
  const agentsBody = document.querySelector("#agents tbody");
  const calls = document.getElementById("calls");
  const connection = document.getElementById("connection");
  const active = document.getElementById("active");
  const today = document.getElementById("today");
  let received = 0;   // when the last view came (ms), to keep times counting
  let view = null;
  let retry = 500;

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }

  function drawQueues(elapsed) {
    queuesBody.replaceChildren();
    for (const q of view.queues) {
      const tr = document.createElement("tr");
      tr.dataset.queue = q.queue;
      tr.dataset.channel = q.channel;
      cell(tr, q.queue, "text queue");
      cell(tr, q.channel, "text channel");
      cell(tr, String(q.waiting), q.waiting ? "waiting waiting-some" : "waiting");
      cell(tr, q.waiting ? clock(q.longest_wait + elapsed) : "–", "longest");
      const sl = q.service_level === null ? "–" : `${q.service_level.toFixed(0)}%`;
      const td = cell(tr, sl, `sl sl-${q.sl_colour}`);
      td.title = `answered within ${q.sl_threshold}s of answered + abandoned`;
      td.dataset.colour = q.sl_colour;
      cell(tr, String(q.answered), "answered");
      cell(tr, String(q.abandoned), "abandoned");
      // transferred in by agents: counted apart from the callers' own arrivals
      cell(tr, String(q.transferred_in ?? 0), "transferred-in");
      cell(tr, String(q.callbacks_pending), "callbacks");
      cell(tr, q.estimated_wait === null ? "–" : clock(q.estimated_wait), "eta");
      queuesBody.appendChild(tr);
    }
  }

  function drawAgents(elapsed) {
    agentsBody.replaceChildren();
    for (const a of view.agents) {
      for (const ch of a.channels) {
        const tr = document.createElement("tr");
        tr.dataset.agent = a.agent;
        tr.dataset.channel = ch.channel;
        cell(tr, a.name, "text name");
        cell(tr, ch.channel, "text channel");
        const state = cell(tr, ch.state.replace("_", " "), `text state state-${ch.state}`);
        state.dataset.state = ch.state;
        if (ch.activity) {
          // on hold, consulting, in a conference or on an outbound call
          state.dataset.activity = ch.activity.activity;
          state.appendChild(document.createElement("br"));
          const what = document.createElement("span");
          what.className = "activity";
          what.textContent = `${ch.activity.activity} ${clock(ch.activity.seconds + elapsed)}`;
          state.appendChild(what);
        }
        cell(tr, ch.reason || "", "text reason");
        cell(tr, clock(ch.in_state + elapsed), "in-state");
        cell(tr, `${ch.load}/${ch.capacity}`, "load");
        cell(tr, ch.contacts.map((c) => c.slice(0, 8)).join(", "), "text contact");
        cell(tr, String(a.handled), "handled");
        agentsBody.appendChild(tr);
      }
    }
  }

  // Holds, consultations, conferences and outbound calls: now, and today's counts.
  const CALL_FIGURES = [
    ["on_hold", "on hold now"],
    ["consulting", "consulting now"],
    ["in_conference", "in conference now"],
    ["outbound_now", "outbound now"],
    ["holds", "holds today"],
    ["transfers", "transfers today"],
    ["consults", "consultations today"],
    ["conferences", "conferences today"],
    ["outbound", "outbound calls today"],
    ["outbound_answered", "outbound answered"],
  ];

  function drawCalls() {
    const c = view.calls;
    if (!c) return;
    calls.replaceChildren();
    for (const [key, label] of CALL_FIGURES) {
      const box = document.createElement("div");
      box.dataset.key = key;
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = String(c[key]);
      if (key === "transfers") {
        dd.title = ["blind", "consult"].map((kind) =>
          `${kind}: agent ${c[kind + "_agent"]}, queue ${c[kind + "_queue"]}, ` +
          `external ${c[kind + "_external"]}`).join("; ");
      }
      box.append(dt, dd);
      calls.appendChild(box);
    }
  }

  function draw() {
    if (!view) return;
    const elapsed = (Date.now() - received) / 1000;
    drawQueues(elapsed);
    drawAgents(elapsed);
    drawCalls();
    if (window.drawLiveContacts) window.drawLiveContacts(view, elapsed);  // live_contacts.js
    // Calls the overload admission turned away since the controller started.
    const refused = view.active.refused ? ` · turned away (busy) ${view.active.refused}` : "";
    active.textContent = `calls ${view.active.voice} · chats ${view.active.chat}${refused}`;
    active.dataset.overload = view.active.refused ? "true" : "false";
    today.textContent = `today (${view.timezone})`;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/wallboard/ws`);
    ws.addEventListener("open", () => {
      connection.dataset.connected = "true";
      connection.textContent = "live";
      retry = 500;
    });
    ws.addEventListener("message", (event) => {
      view = JSON.parse(event.data);
      received = Date.now();
      document.body.dataset.updated = String(view.at);
      draw();
    });
    ws.addEventListener("close", () => {
      connection.dataset.connected = "false";
      connection.textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  connect();
})();
