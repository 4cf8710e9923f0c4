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
  let me = null;  // this supervisor's user id (/api/me): their own monitoring in the view
  let watching = 0;  // the ringing monitoring being followed until connected (a token)
  // Calls this page stopped monitoring: views made before the stop still list the
  // supervisor on them, and must not bring the monitoring back.
  const stopped = new Set();
  const DOING = { listen: "Listening to", whisper: "Whispering to the agent of", barge: "Barged into" };
  fetch("/api/me", { credentials: "same-origin" })
    .then((r) => (r.ok ? r.json() : null))
    .then((user) => { me = user && user.id; })
    .catch(() => {});

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

  function whoOf(contactId) {
    const row = body.querySelector(`tr[data-contact-id="${CSS.escape(contactId)}"] td.who`);
    return row ? row.textContent : contactId.slice(0, 8);
  }

  async function monitor(contactId, mode) {
    stopped.delete(contactId);
    const answer = await call("POST", `/api/calls/${encodeURIComponent(contactId)}/monitor`, { mode });
    monitoring = answer.monitor;
    if (answer.monitor.state === "ringing") {
      say(`Your phone rings: answer it to ${mode}`);
      follow(contactId);
    } else {
      say(`${DOING[mode]} ${whoOf(contactId)}`);
    }
  }

  // While the supervisor's phone rings: tell them once it is connected (or why not).
  async function follow(contactId) {
    const token = ++watching;
    const path = `/api/calls/${encodeURIComponent(contactId)}/monitor`;
    while (token === watching) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (token !== watching) return;
      const response = await fetch(path, { credentials: "same-origin" }).catch(() => null);
      if (!response) continue;
      if (response.status === 404) {
        if (monitoring && monitoring.contact_id === contactId) monitoring = null;
        say("Monitoring ended: your phone was not answered, or the call ended");
        return;
      }
      const answer = await response.json().catch(() => null);
      if (answer && answer.monitor.state === "connected") {
        monitoring = answer.monitor;
        say(`${DOING[answer.monitor.mode]} ${whoOf(contactId)}`);
        return;
      }
    }
  }

  async function stop(contactId) {
    watching++;
    stopped.add(contactId);
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

  // Whisper: the note is written under the chat being read (Whisper on a row opens
  // that chat for reading first, so the supervisor sees what they answer to).
  const noteForm = document.getElementById("reading-note");
  const noteInput = noteForm.elements.note;

  function whisper(contactId, who) {
    if (reading.hidden || reading.dataset.contactId !== contactId) read(contactId, who);
    noteInput.focus();
  }

  noteForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const contactId = reading.dataset.contactId;
    const text = noteInput.value.trim();
    if (!contactId || !text) return;
    call("POST", `/api/chats/${encodeURIComponent(contactId)}/whisper`, { text })
      .then(() => {
        noteInput.value = "";
        say("Note sent to the agent");
      })
      .catch((error) => say(error.message));
  });

  document.getElementById("reading-close").addEventListener("click", () => {
    if (readSocket) readSocket.close();
    readSocket = null;
    reading.hidden = true;
    delete reading.dataset.contactId;
  });

  async function takeOver(contactId) {
    const answer = await call("POST", `/api/chats/${encodeURIComponent(contactId)}/take_over`);
    say(`The chat is on your desk now (from ${answer.from_agent})`);
  }

  // Who monitors the contact now ("sue: listen"), and this supervisor's own monitoring
  // as the server has it (so a reloaded page still offers Stop).
  function monitoredBy(c) {
    const others = [];
    const mine = (c.monitors || []).some((m) => m.supervisor === me);
    if (!mine) stopped.delete(c.contact_id);
    for (const m of c.monitors || []) {
      if (m.supervisor === me && c.channel === "voice" && !stopped.has(c.contact_id)) {
        if (!monitoring || monitoring.contact_id !== c.contact_id) {
          monitoring = { contact_id: c.contact_id, mode: m.mode, state: "connected" };
        } else {
          monitoring.mode = m.mode;
        }
      }
      others.push(`${m.supervisor}: ${m.mode}`);
    }
    return others.join(", ");
  }

  function actions(c) {
    const td = document.createElement("td");
    td.className = "actions";
    const by = monitoredBy(c);
    if (by) {
      const tag = document.createElement("small");
      tag.className = "monitored";
      tag.textContent = by;
      td.appendChild(tag);
    }
    const review = document.createElement("a");
    review.className = "review";
    review.href = `/contacts?id=${encodeURIComponent(c.contact_id)}`;
    review.target = "_blank";
    review.textContent = "Review";
    review.title = "The contact page: timeline, recording, transcript, chat, evaluations";
    if (c.state !== "talking") {
      td.appendChild(review);
      return td;
    }
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
      td.appendChild(act("Whisper", "whisper", async () => whisper(c.contact_id, c.who)));
      td.appendChild(act("Take over", "take-over", () => takeOver(c.contact_id)));
    }
    td.appendChild(review);
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
      watching++;
      say("The monitored call ended");
    } else if (monitoring && monitoring.state === "connected" && me && !view.contacts.some(
      (c) => c.contact_id === monitoring.contact_id
        && (c.monitors || []).some((m) => m.supervisor === me))) {
      monitoring = null;  // ended on the phone (hung up): the buttons follow
      say("Monitoring ended");
    }
  };
})();
