/* Hotline chat widget: one script tag on any page (its origin must be listed in the
 * hotline's web.allowed_origins):
 *
 *   <script src="https://hotline.example/static/chat/widget.js" defer
 *           data-language="en" data-title="Chat with us" data-open="false"></script>
 *
 * Talks to the hotline over a WebSocket (protocol: chat_bridge/protocol.py). Every
 * message shown is text (never HTML). The session is kept in localStorage: a reload
 * resumes it and shows the whole thread; a lost connection resumes from the last
 * message number seen; messages not yet acknowledged are sent again (the server
 * stores each once, by its id).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__hotlineChat) { return; }
  var base = new URL(script.src, document.baseURI);
  var origin = base.origin;
  var wsUrl = origin.replace(/^http/, "ws") + "/chat/ws";
  var options = {
    language: script.dataset.language || (navigator.language || "en").slice(0, 2),
    title: script.dataset.title || "Chat with us",
    open: script.dataset.open === "true",
    entry: script.dataset.entry || null,
  };
  var storeKey = "hotline-chat:" + origin;
  var saved = load();
  var state = {
    ws: null,
    ready: false,
    session: saved.session || null,
    // A new page shows the whole thread; a reconnect asks only for what it missed.
    lastSeq: 0,
    visitor: saved.visitor || randomId(),
    pending: [],            // frames sent but not acknowledged, oldest first
    shown: {},              // seq -> element
    retry: 500,
    stopped: false,
    chatState: "new",
    typingSent: 0,
    typingTimer: null,
  };
  save();

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; }
    catch (e) { return {}; }
  }
  function save() {
    try {
      localStorage.setItem(storeKey, JSON.stringify({
        session: state.session, visitor: state.visitor,
      }));
    } catch (e) { /* private mode: the chat still works, without resume */ }
  }
  function randomId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // ---- the panel (in a shadow root, so the page's styles and ours stay apart) ----

  var host = el("div", "hotline-chat-host");
  host.id = "hotline-chat";
  var root = host.attachShadow({ mode: "open" });
  var css = el("link");
  css.rel = "stylesheet";
  css.href = origin + "/static/chat/widget.css";
  root.appendChild(css);
  var launcher = el("button", "launcher", options.title);
  launcher.type = "button";
  var panel = el("section", "panel");
  panel.hidden = !options.open;
  launcher.hidden = options.open;
  var head = el("header", "head");
  head.appendChild(el("span", "title", options.title));
  var endButton = el("button", "end", "End chat");
  endButton.type = "button";
  var hideButton = el("button", "hide", "–");
  hideButton.type = "button";
  hideButton.setAttribute("aria-label", "Minimise");
  head.appendChild(endButton);
  head.appendChild(hideButton);
  var status = el("div", "status");
  status.setAttribute("role", "status");
  var log = el("ol", "log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "typing", "Agent is typing…");
  typing.hidden = true;
  var notice = el("div", "notice");
  notice.hidden = true;
  var form = el("form", "compose");
  var input = el("textarea", "input");
  input.rows = 2;
  input.maxLength = 4000;
  input.placeholder = "Type a message…";
  var file = el("input", "file");
  file.type = "file";
  file.accept = "image/png,image/jpeg,image/gif,application/pdf,text/plain";
  // Share where the customer is (the browser asks them first); only where it can.
  var locate = el("button", "locate", "Location");
  locate.type = "button";
  locate.title = "Share your location";
  locate.hidden = !(navigator.geolocation && window.isSecureContext !== false);
  var send = el("button", "send", "Send");
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(file);
  form.appendChild(locate);
  form.appendChild(send);
  var reopen = el("button", "reopen", "Start a new chat");
  reopen.type = "button";
  reopen.hidden = true;
  [head, status, log, typing, notice, reopen, form].forEach(function (n) { panel.appendChild(n); });
  root.appendChild(launcher);
  root.appendChild(panel);

  function mount() { document.body.appendChild(host); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }

  launcher.addEventListener("click", function () {
    panel.hidden = false;
    launcher.hidden = true;
    connect();
  });
  hideButton.addEventListener("click", function () {
    panel.hidden = true;
    launcher.hidden = false;
  });
  endButton.addEventListener("click", function () { transmit({ type: "close" }); });
  reopen.addEventListener("click", function () { transmit({ type: "reopen" }); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    sendReliably({ type: "message", id: "m" + randomId(), text: text }, text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - state.typingSent > 2000) {
      state.typingSent = now;
      transmit({ type: "typing", on: true });
    }
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () {
      state.typingSent = 0;
      transmit({ type: "typing", on: false });
    }, 3000);
  });
  locate.addEventListener("click", function () {
    if (!state.session) { showError({ message: "Wait until the chat is connected" }); return; }
    navigator.geolocation.getCurrentPosition(function (position) {
      var lat = Math.round(position.coords.latitude * 1e6) / 1e6;
      var lon = Math.round(position.coords.longitude * 1e6) / 1e6;
      sendReliably({ type: "location", id: "l" + randomId(), latitude: lat, longitude: lon },
        lat.toFixed(6) + ", " + lon.toFixed(6),
        { rich: { type: "location", latitude: lat, longitude: lon } });
    }, function (error) {
      showError({ message: "Your location was not shared: " + (error.message || "not allowed"),
        code: "location" });
    }, { timeout: 15000, maximumAge: 60000 });
  });
  file.addEventListener("change", function () {
    var chosen = file.files && file.files[0];
    file.value = "";
    if (chosen) { upload(chosen); }
  });

  // ---- the connection ----

  function connect() {
    if (state.ws || state.stopped) { return; }
    var ws = new WebSocket(wsUrl);
    state.ws = ws;
    ws.addEventListener("open", function () {
      state.retry = 500;
      ws.send(JSON.stringify({
        v: 1, type: "hello", session: state.session, last_seq: state.lastSeq,
        visitor: state.visitor, language: options.language, entry: options.entry,
      }));
    });
    ws.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      receive(frame);
    });
    ws.addEventListener("close", function (event) {
      state.ws = null;
      state.ready = false;
      host.dataset.connected = "false";
      if (event.code === 4003 || state.stopped) { state.stopped = true; return; }
      setStatus("Reconnecting…");
      setTimeout(connect, state.retry);
      state.retry = Math.min(state.retry * 2, 10000);
    });
  }

  function transmit(frame) {
    if (state.ws && state.ready) {
      frame.v = 1;
      state.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function sendReliably(frame, text, extra) {
    var item = { frame: frame, sentAt: 0, element: null };
    var kind = extra ? (extra.rich ? extra.rich.type : "attachment") : "text";
    item.element = showMessage({ from: "customer", text: text, kind: kind,
      data: extra || {}, client_id: frame.id }, true);
    state.pending.push(item);
    flush();
  }

  function flush() {
    var now = Date.now();
    state.pending.forEach(function (item) {
      if (now - item.sentAt > 3000 && transmit(item.frame)) { item.sentAt = now; }
    });
  }
  setInterval(flush, 1000);

  function receive(frame) {
    switch (frame.type) {
      case "welcome":
        state.session = frame.session;
        state.ready = true;
        host.dataset.connected = "true";
        host.dataset.session = frame.session_id;
        save();
        setState(frame.state);
        setStatus("");
        state.pending.forEach(function (item) { item.sentAt = 0; });
        flush();
        break;
      case "message":
        showMessage(frame, false);
        if (frame.seq > state.lastSeq) { state.lastSeq = frame.seq; save(); }
        if (frame.from === "agent") { typing.hidden = true; }
        break;
      case "ack":
        state.pending = state.pending.filter(function (item) {
          if (item.frame.id !== frame.id) { return true; }
          if (item.element) { item.element.classList.remove("unsent"); }
          return false;
        });
        break;
      case "typing":
        typing.hidden = !frame.on;
        clearTimeout(state.agentTyping);
        if (frame.on) { state.agentTyping = setTimeout(function () { typing.hidden = true; }, 6000); }
        break;
      case "queue":
        if (frame.position) {
          var text = "You are number " + frame.position + " in the queue";
          if (frame.minutes) {  // whole minutes, rounded as a caller is told (hotline/waiting.py)
            text += " · about " + frame.minutes + " min";
          }
          setStatus(text);
        } else {
          setStatus("Connecting you to an agent…");
        }
        break;
      case "state":
        setState(frame.state);
        break;
      case "error":
        showError(frame);
        break;
      default:
        break;
    }
  }

  function showError(frame) {
    if (frame.code === "unknown_session") {
      state.session = null;
      state.lastSeq = 0;
      save();
      if (state.ws) { state.ws.close(); }
      return;
    }
    notice.hidden = false;
    notice.textContent = frame.message || "Something went wrong";
    notice.dataset.code = frame.code || "";
    setTimeout(function () { notice.hidden = true; }, 6000);
  }

  function setStatus(text) { status.textContent = text; }

  function setState(name) {
    state.chatState = name;
    host.dataset.state = name;
    reopen.hidden = name !== "closed";
    if (name !== "queued") { setStatus(""); }
    if (name === "closed") { setStatus("This chat is closed. Write again to reopen it."); }
  }

  function showMessage(frame, local) {
    if (!local && frame.client_id) {
      var mine = log.querySelector('[data-client-id="' + cssEscape(frame.client_id) + '"]');
      if (mine) {
        mine.dataset.seq = frame.seq;
        state.shown[frame.seq] = mine;
        mine.classList.remove("unsent");
        return mine;
      }
    }
    if (!local && state.shown[frame.seq]) { return state.shown[frame.seq]; }
    var item = el("li", "msg from-" + frame.from + (local ? " unsent" : ""));
    item.dataset.from = frame.from;
    if (frame.client_id) { item.dataset.clientId = frame.client_id; }
    var body = el("div", "text", frame.text);
    item.appendChild(body);
    var data = frame.data || {};
    if (data.attachment && state.session) {
      var link = el("a", "attachment", data.attachment.filename);
      link.href = origin + "/chat/attachments/" + encodeURIComponent(data.attachment.id) +
        "?session=" + encodeURIComponent(state.session);
      link.target = "_blank";
      link.rel = "noopener";
      // A file (an agent's or a flow's) is saved under its name; pictures open.
      if (!/^image\//.test(data.attachment.content_type || "")) {
        link.download = data.attachment.filename;
      }
      body.textContent = "";
      body.appendChild(link);
    }
    if (data.rich) {
      body.textContent = "";
      body.appendChild(richNode(data.rich));
    }
    if (data.buttons && data.buttons.length) {
      var row = el("div", "buttons");
      data.buttons.forEach(function (button) {
        var b = el("button", "choice", button.label);
        b.type = "button";
        b.dataset.value = button.value;
        b.addEventListener("click", function () {
          sendReliably({ type: "choice", id: "c" + randomId(), value: button.value }, button.label);
        });
        row.appendChild(b);
      });
      item.appendChild(row);
    }
    if (!local) {
      item.dataset.seq = frame.seq;
      state.shown[frame.seq] = item;
      // Keep the thread in order even when a replay and live messages interleave.
      var after = null;
      Array.prototype.some.call(log.children, function (child) {
        if (child.dataset.seq && Number(child.dataset.seq) > frame.seq) { after = child; return true; }
        return false;
      });
      log.insertBefore(item, after);
    } else {
      log.appendChild(item);
    }
    log.scrollTop = log.scrollHeight;
    return item;
  }

  // A card, link, image or location (hotline/messages.py). Text only through
  // textContent; addresses only http(s), as the server checked them already.
  function safeUrl(url) { return /^https?:\/\//i.test(String(url || "")) ? String(url) : null; }
  function outLink(url, text, cls) {
    var a = el("a", cls, text);
    var href = safeUrl(url);
    if (href) { a.href = href; a.target = "_blank"; a.rel = "noopener noreferrer"; }
    return a;
  }
  function richNode(rich) {
    var node = el("div", "rich rich-" + String(rich.type));
    if (rich.type === "card") {
      if (safeUrl(rich.image)) {
        var picture = el("img", "card-image");
        picture.src = safeUrl(rich.image);
        picture.alt = "";
        node.appendChild(picture);
      }
      node.appendChild(el("div", "card-title", rich.title));
      if (rich.text) { node.appendChild(el("div", "card-text", rich.text)); }
      (rich.buttons || []).forEach(function (button) {
        if (button.url) { node.appendChild(outLink(button.url, button.label, "card-link")); }
      });
    } else if (rich.type === "link") {
      node.appendChild(outLink(rich.url, rich.title || rich.url, "card-link"));
    } else if (rich.type === "image" && safeUrl(rich.url)) {
      var image = el("img", "card-image");
      image.src = safeUrl(rich.url);
      image.alt = rich.caption || "";
      node.appendChild(image);
      if (rich.caption) { node.appendChild(el("div", "card-text", rich.caption)); }
    } else if (rich.type === "location") {
      var where = Number(rich.latitude).toFixed(6) + ", " + Number(rich.longitude).toFixed(6);
      node.appendChild(outLink("https://www.openstreetmap.org/?mlat=" + Number(rich.latitude) +
        "&mlon=" + Number(rich.longitude), rich.title ? rich.title + " (" + where + ")" : where,
        "card-link"));
    } else {
      node.textContent = rich.title || rich.url || "";
    }
    return node;
  }

  function cssEscape(text) { return String(text).replace(/["\\]/g, "\\$&"); }

  function upload(chosen) {
    if (!state.session) { showError({ message: "Wait until the chat is connected" }); return; }
    if (chosen.size > 5000000) { showError({ message: "That file is too large" }); return; }
    fetch(origin + "/chat/upload", {
      method: "POST",
      headers: {
        "Content-Type": chosen.type || "application/octet-stream",
        "X-Chat-Session": state.session,
        "X-Filename": encodeURIComponent(chosen.name),
      },
      body: chosen,
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) { showError({ message: result.body.error, code: result.body.code }); return; }
      sendReliably({ type: "attachment", id: "a" + randomId(), attachment: result.body.id },
        result.body.filename, { attachment: result.body });
    }).catch(function () { showError({ message: "The file could not be sent" }); });
  }

  window.__hotlineChat = { connect: connect, state: state };
  if (options.open) { connect(); }
}());
