// The wallboard's live contacts (hotline/web/live_contacts.py) and what a supervisor
// does with them: listen, whisper, barge a call (their own phone rings, then the
// buttons switch mode or stop: hotline/web/monitor_api.py); read a chat live, whisper
// a note to its agent, take it over.
"use strict";

(function () {
  const body = document.querySelector("#contacts tbody");
  const status = document.getElementById("monitor-status");
  const reading = document.getElementById("reading");
  const readingLog = document.getElementById("reading-log");
  const readingTitle = document.getElementById("reading-title");
  let monitoring = null;  // the call this supervisor monitors: {contact_id, mode, state}
  let readSocket = null;

  function clock(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.max(0, Math.round(seconds));
    const m = Math.floor(s / 60), r = s % 60;
    return `${m}:${String(r).padStart(2, "0")}`;
  }

  function say(text) {
    status.textContent = text;
  }

  async function call(method, path, payload) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    return answer;
  }

  function act(label, cls, work) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = cls;
    b.addEventListener("click", () => {
      work().catch((error) => say(error.message));
    });
    return b;
  }

  async function monitor(contactId, mode) {
    const answer = await call("POST", `/api/calls/${encodeURIComponent(contactId)}/monitor`, { mode });
    monitoring = answer.monitor;
    say(answer.monitor.state === "ringing"
      ? `Your phone rings: answer it to ${mode}`
      : `${mode} on ${contactId.slice(0, 8)}`);
  }

  async function stop(contactId) {
    await call("POST", `/api/calls/${encodeURIComponent(contactId)}/monitor/stop`);
    monitoring = null;
    say("Monitoring stopped");
  }

  function read(contactId, who) {
    if (readSocket) readSocket.close();
    readingLog.replaceChildren();
    readingTitle.textContent = `Reading the chat with ${who}`;
    reading.hidden = false;
    reading.dataset.contactId = contactId;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(
      `${scheme}//${location.host}/api/chats/${encodeURIComponent(contactId)}/monitor/ws`);
    readSocket = ws;
    const seen = new Set();
    function line(cls, text, key) {
      if (key && seen.has(key)) return;
      if (key) seen.add(key);
      const li = document.createElement("li");
      li.className = cls;
      li.textContent = text;
      readingLog.appendChild(li);
      readingLog.scrollTop = readingLog.scrollHeight;
    }
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type === "chat") {
        for (const m of frame.messages) line(`msg from-${m.from}`, `${m.from}: ${m.text}`, m.seq);
        for (const n of frame.notes) line("msg whisper", `private, ${n.from}: ${n.text}`);
      } else if (frame.type === "message") {
        const m = frame.message;
        line(`msg from-${m.from}`, `${m.from}: ${m.text}`, m.seq);
      } else if (frame.type === "note") {
        line("msg whisper", `private, ${frame.note.from}: ${frame.note.text}`);
      } else if (frame.type === "error") {
        say(frame.error);
      } else if (frame.type === "ended") {
        line("ended", `— reading ended (${frame.reason})`);
      }
    });
  }

  async function whisper(contactId) {
    const text = window.prompt("A private note for the agent (the customer never sees it):");
    if (!text) return;
    await call("POST", `/api/chats/${encodeURIComponent(contactId)}/whisper`, { text });
    say("Note sent to the agent");
  }

  async function takeOver(contactId) {
    const answer = await call("POST", `/api/chats/${encodeURIComponent(contactId)}/take_over`);
    say(`The chat is on your desk now (from ${answer.from_agent})`);
  }

  function actions(c) {
    const td = document.createElement("td");
    td.className = "actions";
    if (c.state !== "talking") return td;
    if (c.channel === "voice") {
      for (const mode of ["listen", "whisper", "barge"]) {
        const b = act(mode[0].toUpperCase() + mode.slice(1), `monitor ${mode}`,
          () => monitor(c.contact_id, mode));
        if (monitoring && monitoring.contact_id === c.contact_id && monitoring.mode === mode) {
          b.dataset.active = "true";
        }
        td.appendChild(b);
      }
      if (monitoring && monitoring.contact_id === c.contact_id) {
        td.appendChild(act("Stop", "monitor stop", () => stop(c.contact_id)));
      }
    } else if (c.channel === "chat") {
      td.appendChild(act("Read", "read", async () => read(c.contact_id, c.who)));
      td.appendChild(act("Whisper", "whisper", () => whisper(c.contact_id)));
      td.appendChild(act("Take over", "take-over", () => takeOver(c.contact_id)));
    }
    return td;
  }

  // Called by wallboard.js with each view (and each second, `elapsed` since it came).
  window.drawLiveContacts = function (view, elapsed) {
    if (!body || !view.contacts) return;
    body.replaceChildren();
    for (const c of view.contacts) {
      const tr = document.createElement("tr");
      tr.dataset.contactId = c.contact_id;
      tr.dataset.channel = c.channel;
      tr.dataset.state = c.state;
      const cells = [
        [c.who, "text who"],
        [c.channel, "text channel"],
        [c.queue || "–", "text queue"],
        [c.agent_name || "–", "text agent"],
        [clock(c.state === "waiting" ? c.wait + elapsed : c.wait), "wait"],
        [c.duration === null ? "–" : clock(c.duration + elapsed), "duration"],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        td.className = cls;
        tr.appendChild(td);
      }
      tr.title = c.contact_id;
      tr.appendChild(actions(c));
      body.appendChild(tr);
    }
    if (monitoring && !view.contacts.some((c) => c.contact_id === monitoring.contact_id)) {
      monitoring = null;
      say("The monitored call ended");
    }
  };
})();
