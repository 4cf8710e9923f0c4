/* The agent desk: presence per channel, offers, chat tabs, the customer card.
 * Server protocol: hotline/web/desk.py. Everything from customers is shown as text. */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var desk = {
    ws: null,
    retry: 500,
    agent: null,
    pauseReasons: [],
    wrapUps: [],
    queues: [],
    agents: {},
    chats: {},        // contact_id -> {tab, pane, log, lastSeq, card, ...}
    active: null,
    offers: {},       // contact_id -> element
    pops: {},         // contact_id -> element (voice screen pops)
    call: null,       // the live call: {id, frame, since (ms, local clock), timer}
    sentIds: 0,
  };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function button(label, onClick, cls) {
    var b = el("button", cls || "", label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }
  function toast(text) {
    var t = $("toast");
    t.textContent = text;
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 5000);
  }

  // ---- the socket ----

  function connect() {
    var ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/desk/ws");
    desk.ws = ws;
    ws.addEventListener("open", function () {
      desk.retry = 500;
      $("connection").dataset.connected = "true";
      $("connection").textContent = "connected";
      var seen = {};
      Object.keys(desk.chats).forEach(function (id) { seen[id] = desk.chats[id].lastSeq; });
      send({ type: "sync", chats: seen });
    });
    ws.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      receive(frame);
    });
    ws.addEventListener("close", function () {
      desk.ws = null;
      $("connection").dataset.connected = "false";
      $("connection").textContent = "reconnecting…";
      setTimeout(connect, desk.retry);
      desk.retry = Math.min(desk.retry * 2, 10000);
    });
  }

  function send(frame) {
    if (desk.ws && desk.ws.readyState === WebSocket.OPEN) {
      desk.ws.send(JSON.stringify(frame));
      return true;
    }
    toast("Not connected; try again in a moment");
    return false;
  }

  function receive(frame) {
    switch (frame.type) {
      case "hello":
        desk.agent = frame.agent;
        desk.pauseReasons = frame.pause_reasons || [];
        desk.wrapUps = frame.wrap_up_codes || [];
        desk.queues = frame.queues || [];
        desk.agents = frame.agents || {};
        $("agent-name").textContent = frame.name;
        var reasons = $("pause-reason");
        reasons.textContent = "";
        desk.pauseReasons.forEach(function (r) { reasons.appendChild(option(r, r)); });
        presence(frame.channels);
        service(frame.service || []);
        break;
      case "service": service(frame.problems || []); break;
      case "presence": presence(frame.channels); break;
      case "offer": showOffer(frame); break;
      case "offer_gone": dropOffer(frame.contact_id); break;
      case "chat": openChat(frame); break;
      case "message": addMessage(frame.contact_id, frame.message); break;
      case "sent": break;
      case "typing": typingShown(frame.contact_id, frame.on); break;
      case "customer_left": customerLeft(frame.contact_id); break;
      case "chat_closed": closeChat(frame.contact_id); break;
      case "screen_pop": screenPop(frame); break;
      case "screen_pop_end": endPop(frame.contact_id); break;
      case "call": showCall(frame); break;
      case "call_ended": callEnded(frame.contact_id); break;
      case "transcript":  // a live call's transcript line (desk_assist.js shows it)
        document.dispatchEvent(new CustomEvent("hotline:transcript", { detail: frame }));
        break;
      // Supervisors (chat_bridge/monitoring.py, ari_app/monitoring.py).
      case "whisper": addWhisper(frame.contact_id, frame.note); break;
      case "taken_over": toast(frame.by + " took over this chat"); break;
      case "monitored": monitored(frame); break;
      case "error": toast(frame.message); break;
      default: break;
    }
  }

  // What the database or the routing engine not answering means for the agent, until
  // it is back (an empty list hides it).
  function service(problems) {
    var box = $("service");
    box.textContent = problems.join(" · ");
    box.hidden = problems.length === 0;
  }

  function option(value, label) {
    var o = el("option", "", label);
    o.value = value;
    return o;
  }

  // ---- presence ----

  function presence(channels) {
    var box = $("channels");
    box.textContent = "";
    ["voice", "chat"].forEach(function (name) {
      var st = channels && channels[name];
      if (!st) { return; }
      var c = el("div", "channel");
      c.dataset.channel = name;
      c.dataset.state = st.state;
      c.appendChild(el("span", "label", name === "voice" ? "Voice" : "Chat"));
      var shown = st.state + (st.reason ? " (" + st.reason + ")" : "");
      if (name === "chat" && st.load) { shown += " · " + st.load; }
      c.appendChild(el("span", "state", shown));
      var act = function (action) {
        return function () {
          send({ type: "presence", action: action, channel: name, reason: $("pause-reason").value });
        };
      };
      if (st.state === "offline") {
        c.appendChild(button("Log in", act("login"), "login"));
      } else {
        if (st.state === "paused") { c.appendChild(button("Resume", act("unpause"), "unpause")); }
        else { c.appendChild(button("Pause", act("pause"), "pause")); }
        if (st.state === "wrap_up") { c.appendChild(button("Ready", act("ready"), "ready")); }
        c.appendChild(button("Log out", act("logout"), "logout"));
      }
      box.appendChild(c);
    });
  }

  // ---- offers and screen pops ----

  function showOffer(frame) {
    dropOffer(frame.contact_id);
    var box = el("div", "offer");
    box.dataset.contactId = frame.contact_id;
    box.dataset.channel = frame.channel;
    box.appendChild(el("div", "what", "New " + frame.channel + " in " + frame.queue));
    box.appendChild(el("div", "who", describe(frame.card)));
    var actions = el("div", "actions");
    actions.appendChild(button("Accept", function () {
      send({ type: "accept", contact_id: frame.contact_id });
    }, "accept"));
    actions.appendChild(button("Reject", function () {
      send({ type: "reject", contact_id: frame.contact_id });
      dropOffer(frame.contact_id);
    }, "reject"));
    var count = el("span", "countdown");
    actions.appendChild(count);
    box.appendChild(actions);
    var ends = Date.now() + (frame.timeout || 15) * 1000;
    var tick = function () {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      count.textContent = left + " s";
      if (left <= 0) { clearInterval(box.timer); box.classList.add("expired"); }
    };
    tick();
    box.timer = setInterval(tick, 500);
    $("offers").appendChild(box);
    desk.offers[frame.contact_id] = box;
    showCard(frame.card);
  }

  function dropOffer(contactId) {
    var box = desk.offers[contactId];
    if (box) {
      clearInterval(box.timer);
      box.remove();
      delete desk.offers[contactId];
    }
  }

  function screenPop(frame) {
    endPop(frame.contact_id);
    var box = el("div", "pop");
    box.dataset.contactId = frame.contact_id;
    box.appendChild(el("strong", "", "Incoming call (" + (frame.queue || "queue") + ")"));
    box.appendChild(el("div", "", describe(frame.card)));
    desk.pops[frame.contact_id] = box;
    showCard(frame.card, box);
  }

  function endPop(contactId) {
    var box = desk.pops[contactId];
    if (box) { box.remove(); delete desk.pops[contactId]; }
  }

  // ---- the live call ----

  function clock(seconds) {
    var s = Math.max(0, Math.floor(seconds));
    var m = Math.floor(s / 60);
    var h = Math.floor(m / 60);
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + two(m % 60) : String(m)) + ":" + two(s % 60);
  }

  function showCall(frame) {
    var call = frame.call;
    if (desk.call && desk.call.id !== call.contact_id) { stopCall(); }
    var keep = desk.call && desk.call.id === call.contact_id ? desk.call : null;
    var box = $("call");
    box.textContent = "";
    box.hidden = false;
    box.dataset.contactId = call.contact_id;
    box.dataset.phase = call.phase;
    box.dataset.channel = call.channel;
    var talking = call.phase === "talking";
    var wrapping = call.phase === "wrap_up";  // a required code still owed (after a reload)
    var title = talking ? "On a call" : wrapping ? "Wrap-up" : "Ringing";
    if (call.channel === "callback") { title += " (callback)"; }
    box.appendChild(el("h2", "title", title));
    box.appendChild(el("div", "who", describe(frame.card)));
    var facts = [["Queue", call.queue || "—"]];
    if (call.waited !== null && call.waited !== undefined) {
      facts.push(["Waited", clock(call.waited)]);
    }
    var moved = call.transferred;  // passed on by a colleague: who, and their note
    if (moved) {
      var from = moved.agent || moved.by || "";
      facts.push(["Transferred by", (desk.agents[from] || from) +
        (moved.kind === "consult" ? " (after consulting you)" : "")]);
      facts.push(["Their note", moved.note]);
    }
    box.appendChild(pairs(facts));
    var duration = el("div", "duration", "");
    duration.hidden = !talking;
    box.appendChild(duration);
    var since = Date.now() - (call.seconds || 0) * 1000;
    if (desk.call) { clearInterval(desk.call.timer); }
    desk.call = { id: call.contact_id, frame: frame, since: since, timer: null, form: null };
    if (talking) {
      var tick = function () { duration.textContent = clock((Date.now() - since) / 1000); };
      tick();
      desk.call.timer = setInterval(tick, 1000);
      box.appendChild(controls(call, keep && keep.transfer));
      desk.call.form = wrapUpForm(call, keep && keep.form);
      box.appendChild(desk.call.form.node);
    } else if (wrapping) {
      desk.call.form = wrapUpForm(call, keep && keep.form);
      desk.call.ended = true;
      box.appendChild(desk.call.form.node);
    }
    showCard(frame.card, desk.pops[call.contact_id]);
    document.dispatchEvent(new CustomEvent("hotline:call", { detail: frame }));  // phone.js
  }

  // Hold and resume (the call control's REST API, hotline/web/calls_api.py); the
  // server's answer, and then the call frame of its call.held / call.resumed, redraw.
  function controls(call, before) {
    var state = call.control || {};
    var box = $("call");
    box.dataset.held = state.held ? "true" : "false";
    var row = el("div", "call-controls");
    if (state.held) { row.appendChild(el("span", "held", "On hold")); }
    var act = function (action) {
      return function () {
        post("/api/calls/" + encodeURIComponent(call.contact_id) + "/" + action, {})
          .then(function (answer) {
            if (desk.call && desk.call.id === call.contact_id) {
              box.dataset.held = answer.state && answer.state.held ? "true" : "false";
            }
          })
          .catch(function (error) { toast(error.message); });
      };
    };
    if (state.held) { row.appendChild(button("Resume", act("resume"), "resume")); }
    else { row.appendChild(button("Hold", act("hold"), "hold")); }
    row.appendChild(transferTools(call, before));
    if (window.DeskConsult) {  // desk_consult.js: consult, complete, conference, cancel
      row.appendChild(window.DeskConsult.controls(call, desk.call.transfer, row,
        { post: post, toast: toast }));
    }
    return row;
  }

  // Blind transfer to a number, a colleague or a queue, with a note that goes with the
  // call; a refusal (a number the dial rules refuse, an unknown target) is shown and the
  // call goes on untouched.
  function transferTools(call, before) {
    var box = el("div", "transfer-tools");
    // Colleagues with their presence, queues with their waiting count, or a number
    // (desk_targets.js); a refusal is shown in it and in the toast.
    var pick = window.DeskTargets.picker({
      before: before && before.pick, agents: desk.agents, queues: desk.queues,
    });
    var note = el("input", "transfer-note");
    note.type = "text";
    note.maxLength = 2000;
    note.placeholder = "Note for whoever takes the call";
    if (before) { note.value = before.note.value; }
    desk.call.transfer = { pick: pick, to: pick.to, number: pick.number, note: note };
    box.appendChild(pick.node);
    box.appendChild(note);
    box.appendChild(button("Transfer", function () {
      pick.error("");
      post("/api/calls/" + encodeURIComponent(call.contact_id) + "/transfer",
        { to: pick.target(), note: note.value.trim() })
        .catch(function (error) { pick.error(error.message); toast(error.message); });
    }, "transfer"));
    return box;
  }

  // The call's wrap-up code and a note: given during the call or after it (REST API,
  // hotline/web/contacts_api.py); what the agent typed survives the panel's updates.
  function wrapUpForm(call, before) {
    var node = el("form", "wrap-up-form");
    var code = el("select", "wrap-up-code");
    code.appendChild(option("", call.wrap_up_required ? "Wrap-up code (required)…" : "Wrap-up code…"));
    (call.wrap_up_codes || []).forEach(function (c) { code.appendChild(option(c, c)); });
    var note = el("textarea", "note");
    note.rows = 2;
    note.maxLength = 2000;
    note.placeholder = "Note for the customer's history…";
    var save = el("button", "save-wrap-up", "Save");
    save.type = "submit";
    if (before) { code.value = before.code.value; note.value = before.note.value; }
    node.appendChild(code);
    node.appendChild(note);
    node.appendChild(save);
    node.addEventListener("submit", function (event) {
      event.preventDefault();
      saveWrapUp(call.contact_id, code.value, note.value.trim());
    });
    return { node: node, code: code, note: note };
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.error || ("error " + response.status)); }
        return data;
      });
    });
  }

  function saveWrapUp(contactId, code, note) {
    var base = "/api/contacts/" + encodeURIComponent(contactId);
    if (!code && !note) { toast("Choose a wrap-up code or write a note"); return; }
    var steps = Promise.resolve();
    if (note) { steps = steps.then(function () { return post(base + "/notes", { text: note }); }); }
    if (code) { steps = steps.then(function () { return post(base + "/wrapup", { code: code }); }); }
    steps.then(function () {
      var box = $("call");
      box.dataset.saved = "true";
      if (desk.call && desk.call.id === contactId) {
        if (desk.call.ended) { stopCall(); }
        else { desk.call.form.note.value = ""; toast("Saved"); }
      }
    }).catch(function (error) { toast(error.message); });
  }

  function stopCall() {
    if (desk.call) { clearInterval(desk.call.timer); }
    desk.call = null;
    var box = $("call");
    box.textContent = "";
    box.hidden = true;
    delete box.dataset.contactId;
    delete box.dataset.phase;
    delete box.dataset.saved;
  }

  function callEnded(contactId) {
    document.dispatchEvent(new CustomEvent("hotline:call_ended", { detail: contactId }));
    var call = desk.call;
    if (!call || call.id !== contactId) { return; }
    if (!call.form) { stopCall(); return; }  // an offer that was never answered
    // The conversation is over: the panel stays for the wrap-up code and note.
    clearInterval(call.timer);
    call.ended = true;
    var box = $("call");
    box.dataset.phase = "wrap_up";
    box.querySelector(".title").textContent = "Wrap-up";
    box.appendChild(button("Dismiss", stopCall, "dismiss"));
  }

  function describe(card) {
    if (!card || !card.known) { return "unknown customer"; }
    var c = card.customer || {};
    return c.name || c.phone || c.email || card.source || "new customer";
  }

  // ---- the customer card ----

  function showCard(card, pop) {
    var body = $("card-body");
    body.textContent = "";
    body.className = "";
    if (pop) { body.appendChild(pop); }
    // desk_dial.js: the Call button for the customer's phone.
    document.dispatchEvent(new CustomEvent("hotline:card", { detail: { card: card, body: body } }));
    if (!card || !card.known) {
      body.appendChild(el("p", "empty", "No record of this customer yet."));
      return;
    }
    var c = card.customer || {};
    body.appendChild(el("h3", "", "Identity"));
    body.appendChild(pairs([
      ["Name", c.name], ["Phone", c.phone], ["E-mail", c.email], ["Chat id", c.chat_id],
      ["Channel", card.channel], ["From", card.source], ["Language", card.language],
    ]));
    var collected = card.collected || {};
    var keys = Object.keys(collected);
    body.appendChild(el("h3", "", "From the flow"));
    if (keys.length) {
      body.appendChild(pairs(keys.map(function (k) { return [FLOW_LABELS[k] || k, collected[k]]; })));
    } else {
      body.appendChild(el("p", "empty", "Nothing collected."));
    }
    if ((card.notes || []).length) {
      body.appendChild(el("h3", "", "Notes on this contact"));
      var notes = el("ul", "notes");
      card.notes.forEach(function (n) { notes.appendChild(el("li", "", noteText(n))); });
      body.appendChild(notes);
    }
    body.appendChild(el("h3", "", "Previous contacts"));
    var history = card.history || [];
    if (!history.length) { body.appendChild(el("p", "empty", "None.")); return; }
    var list = el("ul", "history");
    history.forEach(function (h) {
      var item = el("li", "", h.started_at.slice(0, 16).replace("T", " ") + " · " +
        h.channel + " · " + h.status + (h.flow ? " · " + h.flow : ""));
      if (h.wrap_up) { item.appendChild(el("span", "code", " · " + h.wrap_up)); }
      (h.notes || []).forEach(function (n) {
        item.appendChild(el("div", "note", noteText(n)));
      });
      list.appendChild(item);
    });
    body.appendChild(list);
  }

  // The knowledge node's variables (hotline/flows/knowledge_step.py) in words.
  var FLOW_LABELS = {
    kb_question: "Question to the bot",
    kb_tried: "Articles the bot tried",
    kb_article: "Article that helped",
  };

  function noteText(n) {
    return (n.transfer ? "Transfer note: " : "") + n.text + " — " + n.by;
  }

  function pairs(rows) {
    var dl = el("dl");
    rows.forEach(function (row) {
      if (row[1] === null || row[1] === undefined || row[1] === "") { return; }
      dl.appendChild(el("dt", "", row[0]));
      dl.appendChild(el("dd", "", typeof row[1] === "object" ? JSON.stringify(row[1]) : row[1]));
    });
    return dl;
  }

  // ---- chats ----

  function openChat(frame) {
    dropOffer(frame.contact_id);
    var chat = desk.chats[frame.contact_id];
    if (!chat) { chat = makeChat(frame); }
    chat.card = frame.card;
    (frame.messages || []).forEach(function (m) { addMessage(frame.contact_id, m); });
    (frame.notes || []).forEach(function (n) { addWhisper(frame.contact_id, n); });
    if (frame.customer_left) { customerLeft(frame.contact_id); }
    if (!desk.active) { select(frame.contact_id); }
  }

  function makeChat(frame) {
    var id = frame.contact_id;
    var name = describe(frame.card);
    var tab = button(name, function () { select(id); }, "tab");
    tab.setAttribute("role", "tab");
    tab.dataset.contactId = id;
    var pane = el("section", "pane");
    pane.dataset.contactId = id;
    pane.hidden = true;
    var log = el("ol", "log");
    var typing = el("div", "typing", "Customer is typing…");
    typing.hidden = true;
    var left = el("div", "left", "The customer has left. Close the chat with a wrap-up code.");
    left.hidden = true;
    var tools = el("div", "tools");
    var canned = el("select", "canned");
    canned.appendChild(option("", "Canned responses…"));
    (frame.canned || []).forEach(function (text) { canned.appendChild(option(text, text)); });
    var transferTo = el("select", "transfer-to");
    desk.queues.forEach(function (q) { transferTo.appendChild(option("queue:" + q, "Queue " + q)); });
    Object.keys(desk.agents).forEach(function (a) {
      transferTo.appendChild(option("agent:" + a, desk.agents[a]));
    });
    var wrap = el("select", "wrap-up");
    desk.wrapUps.forEach(function (w) { wrap.appendChild(option(w, w)); });
    tools.appendChild(canned);
    tools.appendChild(transferTo);
    tools.appendChild(button("Transfer", function () {
      var kind = transferTo.value.split(":")[0];
      var frame = { type: "transfer", contact_id: id };
      frame[kind] = transferTo.value.slice(kind.length + 1);
      send(frame);
    }, "transfer"));
    tools.appendChild(wrap);
    tools.appendChild(button("Close", function () {
      send({ type: "close", contact_id: id, wrap_up: wrap.value });
    }, "close"));
    // A note on the chat, for the customer's history (REST API, contacts_api.py).
    var notes = el("div", "chat-notes");
    var noteInput = el("input", "note-input");
    noteInput.type = "text";
    noteInput.maxLength = 2000;
    noteInput.placeholder = "Note…";
    var saved = el("ul", "saved-notes");
    notes.appendChild(noteInput);
    notes.appendChild(button("Add note", function () {
      var text = noteInput.value.trim();
      if (!text) { toast("Write the note first"); return; }
      post("/api/contacts/" + encodeURIComponent(id) + "/notes", { text: text })
        .then(function (note) {
          noteInput.value = "";
          saved.appendChild(el("li", "", noteText(note)));
        })
        .catch(function (error) { toast(error.message); });
    }, "add-note"));
    notes.appendChild(saved);
    var compose = el("form", "compose");
    var input = el("textarea", "input");
    input.rows = 2;
    input.maxLength = 4000;
    input.placeholder = "Reply…";
    var sendButton = el("button", "send", "Send");
    sendButton.type = "submit";
    compose.appendChild(input);
    compose.appendChild(sendButton);
    canned.addEventListener("change", function () {
      if (canned.value) { input.value = canned.value; canned.value = ""; input.focus(); }
    });
    compose.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = input.value.trim();
      if (!text) { return; }
      desk.sentIds += 1;
      if (send({ type: "send", contact_id: id, id: "d" + Date.now() + "-" + desk.sentIds, text: text })) {
        input.value = "";
      }
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); compose.requestSubmit(); }
    });
    var typingSent = 0;
    input.addEventListener("input", function () {
      if (Date.now() - typingSent > 2000) {
        typingSent = Date.now();
        send({ type: "typing", contact_id: id, on: true });
      }
    });
    [log, typing, left, tools, notes, compose].forEach(function (n) { pane.appendChild(n); });
    var assist = null;
    if (window.DeskAssist) {  // desk_assist.js: suggested articles, search, files
      assist = window.DeskAssist.panel({ contactId: id, input: input, send: send, toast: toast,
        language: frame.card && frame.card.language });
      pane.appendChild(assist);
    }
    $("tabs").appendChild(tab);
    $("panes").appendChild(pane);
    $("no-chats").hidden = true;
    var chat = { id: id, tab: tab, pane: pane, log: log, typing: typing, left: left,
      input: input, lastSeq: 0, seen: {}, assist: assist };
    desk.chats[id] = chat;
    return chat;
  }

  function select(id) {
    desk.active = id;
    Object.keys(desk.chats).forEach(function (key) {
      var chat = desk.chats[key];
      var on = key === id;
      chat.pane.hidden = !on;
      chat.tab.setAttribute("aria-selected", on ? "true" : "false");
      if (on) { chat.tab.classList.remove("unread"); showCard(chat.card); }
    });
  }

  // A supervisor's private note: for the agent only, never sent to the customer.
  function addWhisper(contactId, note) {
    var chat = desk.chats[contactId];
    if (!chat) { return; }
    chat.whispers = chat.whispers || {};
    var key = note.at + "|" + note.from + "|" + note.text;
    if (chat.whispers[key]) { return; }
    chat.whispers[key] = true;
    var item = el("li", "msg whisper");
    item.dataset.from = note.from;
    item.appendChild(el("span", "text", "Private note from " + note.from + ": " + note.text));
    chat.log.appendChild(item);
    chat.log.scrollTop = chat.log.scrollHeight;
  }

  // Told where the config says so (monitoring.tell_agent): a supervisor monitors a call,
  // or reads a chat (its tab's pane is marked).
  function monitored(frame) {
    if (frame.channel === "chat") {
      var pane = document.querySelector('.pane[data-contact-id="' + frame.contact_id + '"]');
      if (pane && frame.on) { pane.dataset.monitored = frame.mode; }
      if (pane && !frame.on) { delete pane.dataset.monitored; }
      toast(frame.on ? frame.supervisor + " is reading this chat"
                     : frame.supervisor + " stopped reading your chat");
      return;
    }
    document.body.dataset.monitored = frame.on ? frame.mode : "";
    toast(frame.on ? frame.supervisor + " is monitoring your call (" + frame.mode + ")"
                   : "The monitoring of your call ended");
  }

  function addMessage(contactId, message) {
    var chat = desk.chats[contactId];
    if (!chat || chat.seen[message.seq]) { return; }
    chat.seen[message.seq] = true;
    chat.lastSeq = Math.max(chat.lastSeq, message.seq);
    var item = el("li", "msg from-" + message.from);
    item.dataset.seq = message.seq;
    item.dataset.from = message.from;
    var data = message.data || {};
    if (data.attachment) {
      var link = el("a", "", data.attachment.filename);
      link.href = "/desk/attachments/" + encodeURIComponent(data.attachment.id);
      link.target = "_blank";
      link.rel = "noopener";
      item.appendChild(link);
      if (/^image\//.test(data.attachment.content_type || "")) {
        var img = el("img");
        img.alt = data.attachment.filename;
        img.src = link.href;
        item.appendChild(img);
      }
    } else if (data.rich && data.rich.type === "location") {  // shared by the customer
      var place = el("a", "location", message.text);
      place.href = "https://www.openstreetmap.org/?mlat=" + Number(data.rich.latitude) +
        "&mlon=" + Number(data.rich.longitude);
      place.target = "_blank";
      place.rel = "noopener noreferrer";
      item.appendChild(place);
    } else {
      item.appendChild(el("span", "text", message.text));
    }
    var after = null;
    Array.prototype.some.call(chat.log.children, function (child) {
      if (Number(child.dataset.seq) > message.seq) { after = child; return true; }
      return false;
    });
    chat.log.insertBefore(item, after);
    chat.log.scrollTop = chat.log.scrollHeight;
    if (message.from === "customer") {
      chat.typing.hidden = true;
      if (desk.active !== contactId) { chat.tab.classList.add("unread"); }
      if (chat.assist) { chat.assist.customerSaid(); }
    }
  }

  function typingShown(contactId, on) {
    var chat = desk.chats[contactId];
    if (!chat) { return; }
    chat.typing.hidden = !on;
    clearTimeout(chat.typingTimer);
    if (on) { chat.typingTimer = setTimeout(function () { chat.typing.hidden = true; }, 6000); }
  }

  function customerLeft(contactId) {
    var chat = desk.chats[contactId];
    if (chat) { chat.left.hidden = false; chat.input.disabled = true; }
  }

  function closeChat(contactId) {
    var chat = desk.chats[contactId];
    if (!chat) { return; }
    chat.tab.remove();
    chat.pane.remove();
    delete desk.chats[contactId];
    if (desk.active === contactId) {
      desk.active = null;
      var rest = Object.keys(desk.chats);
      if (rest.length) { select(rest[0]); }
    }
    $("no-chats").hidden = Object.keys(desk.chats).length > 0;
  }

  $("sign-out").addEventListener("click", function () {
    fetch("/logout", { method: "POST" }).finally(function () { location.href = "/login"; });
  });

  connect();
}());
