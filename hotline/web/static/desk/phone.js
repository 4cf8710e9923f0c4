/* The desk's browser phone: JsSIP (bundled from npm into /static/vendor/jssip.js)
 * registering the agent's browser-phone endpoint through Hotline's relay
 * (/desk/phone/ws, hotline/web/phone_api.py). The SIP account comes from the agent's
 * own login session (GET /api/phone/account) and is never shown.
 * Media: WebRTC with DTLS-SRTP, ICE host candidates only (no STUN/TURN server).
 * Hold and transfer are the desk's call buttons (the call control's REST API);
 * this panel answers, declines, hangs up, mutes and sends keys (RFC 4733). */
(function () {
  "use strict";

  var $ = function (id) { return document.getElementById(id); };
  var KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
  var DEVICE_KEY = "hotline.phone.microphone";
  var phone = {
    ua: null,
    session: null,     // the JsSIP RTCSession ringing or talking
    account: null,
    call: null,        // the desk's call frame (customer card), from desk.js
    retries: 0,
    stopped: false,
    lostCall: false,   // a call ended by a lost connection: its message stays up
    ring: null,
    audio: null,
    stats: { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0, dtls: "" },
  };
  window.hotlinePhone = phone;  // the state, for tests and the curious (no secrets)

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function button(label, cls, onClick) {
    var b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  // ---- the panel --------------------------------------------------------------------

  var ui = {};

  function build() {
    var box = el("section", "phone");
    box.id = "phone";
    box.setAttribute("aria-label", "Browser phone");
    var head = el("div", "phone-head");
    head.appendChild(el("h2", "", "Phone"));
    ui.state = el("span", "phone-state", "starting…");
    ui.state.id = "phone-state";
    head.appendChild(ui.state);
    box.appendChild(head);
    ui.message = el("p", "phone-message");
    ui.message.id = "phone-message";
    ui.message.hidden = true;
    box.appendChild(ui.message);
    var devices = el("label", "phone-device", "Microphone ");
    ui.mic = el("select");
    ui.mic.id = "phone-mic";
    ui.mic.addEventListener("change", function () {
      localStorage.setItem(DEVICE_KEY, ui.mic.value);
    });
    devices.appendChild(ui.mic);
    box.appendChild(devices);
    ui.incoming = el("div", "phone-incoming");
    ui.incoming.id = "phone-incoming";
    ui.incoming.hidden = true;
    ui.caller = el("div", "phone-caller");
    ui.incoming.appendChild(ui.caller);
    ui.incoming.appendChild(button("Answer", "answer", answer));
    ui.incoming.appendChild(button("Decline", "decline", decline));
    box.appendChild(ui.incoming);
    ui.talking = el("div", "phone-talking");
    ui.talking.id = "phone-talking";
    ui.talking.hidden = true;
    ui.mute = button("Mute", "mute", toggleMute);
    ui.talking.appendChild(ui.mute);
    ui.talking.appendChild(button("Hang up", "hangup", hangup));
    var pad = el("div", "phone-keypad");
    KEYS.forEach(function (key) {
      var b = button(key, "key", function () { sendKey(key); });
      b.dataset.key = key;
      pad.appendChild(b);
    });
    ui.talking.appendChild(pad);
    box.appendChild(ui.talking);
    phone.audio = el("audio");
    phone.audio.id = "phone-audio";
    phone.audio.autoplay = true;
    box.appendChild(phone.audio);
    var card = $("card");
    (card || document.body).insertBefore(box, card ? card.firstChild : null);
  }

  function setState(state, text) {
    ui.state.dataset.state = state;
    ui.state.textContent = text;
  }

  function say(text) {
    ui.message.textContent = text || "";
    ui.message.hidden = !text;
  }

  // ---- microphone -------------------------------------------------------------------

  function microphoneProblem(error) {
    switch (error && error.name) {
      case "NotAllowedError":
      case "SecurityError":
        return "The microphone is blocked for this page. Allow it in the browser's site " +
          "settings (the icon left of the address), then reload the desk.";
      case "NotFoundError":
      case "OverconstrainedError":
        return "No microphone found. Plug in a headset, then reload the desk.";
      case "NotReadableError":
      case "AbortError":
        return "The microphone is in use by another program or cannot be opened. " +
          "Close the other program, then reload the desk.";
      default:
        return "The microphone could not be opened (" + (error && error.message) + ").";
    }
  }

  function checkMicrophone() {
    if (!window.isSecureContext || !navigator.mediaDevices ||
        !navigator.mediaDevices.getUserMedia) {
      return Promise.reject(new Error(
        "The browser phone needs the desk over HTTPS (or on this computer, " +
        "http://127.0.0.1): browsers give the microphone only to secure pages."));
    }
    return navigator.mediaDevices.getUserMedia({ audio: true, video: false })
      .then(function (stream) {
        stream.getTracks().forEach(function (t) { t.stop(); });
        return listDevices();
      }, function (error) { throw new Error(microphoneProblem(error)); });
  }

  function listDevices() {
    return navigator.mediaDevices.enumerateDevices().then(function (devices) {
      var wanted = localStorage.getItem(DEVICE_KEY);
      ui.mic.textContent = "";
      devices.filter(function (d) { return d.kind === "audioinput"; }).forEach(function (d, i) {
        var o = el("option", "", d.label || "Microphone " + (i + 1));
        o.value = d.deviceId;
        if (d.deviceId === wanted) { o.selected = true; }
        ui.mic.appendChild(o);
      });
      if (!ui.mic.options.length) { throw new Error(microphoneProblem({ name: "NotFoundError" })); }
    });
  }

  function audioConstraints() {
    var id = ui.mic.value;
    return { audio: id ? { deviceId: { exact: id } } : true, video: false };
  }

  // ---- registration -----------------------------------------------------------------

  function start() {
    if (!window.JsSIP) {
      setState("error", "unavailable");
      say("The phone's JavaScript is missing: run `make run` (it installs it with npm).");
      return;
    }
    setState("starting", "checking the microphone…");
    checkMicrophone()
      .then(function () { return fetchAccount(); })
      .then(register)
      .catch(function (error) {
        setState("error", "not registered");
        say(error.message);
      });
  }

  function fetchAccount() {
    return fetch("/api/phone/account", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.status === 401) {
            throw new Error("Your login session has ended: sign in again to use the phone.");
          }
          if (!response.ok) { throw new Error(body.error || "no phone account"); }
          return body;
        });
      });
  }

  function register(account) {
    phone.account = { uri: account.uri };  // the password stays in the UA only
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new JsSIP.WebSocketInterface(scheme + location.host + account.socket);
    var ua = new JsSIP.UA({
      sockets: [socket],
      uri: account.uri,
      authorization_user: account.authorization_user,
      password: account.password,
      display_name: account.display_name,
      register: true,
      register_expires: 120,
      session_timers: false,
      user_agent: "Hotline desk phone (JsSIP)",
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    });
    phone.ua = ua;
    setState("connecting", "connecting…");
    ua.on("registered", function () {
      phone.retries = 0;
      setState("registered", "ready");
      if (!phone.lostCall) { say(""); }  // that message stays until the next call
    });
    ua.on("unregistered", function () { setState("unregistered", "not registered"); });
    ua.on("registrationFailed", function (e) {
      var code = e.response && e.response.status_code;
      setState("error", "not registered");
      if (code === 403 && e.response.reason_phrase &&
          /contact/i.test(e.response.reason_phrase)) {
        say("Another browser phone is signed in for you (another tab or computer). " +
          "Close it, then reload this desk.");
      } else if (code === 401 || code === 403 || e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR) {
        say("The phone account was refused (" + (code || e.cause) + "): " +
          "ask an administrator to check your phone account.");
      } else {
        say("Registration failed: " + (e.cause || code) + ".");
      }
    });
    ua.on("disconnected", function (e) {
      if (phone.stopped) { return; }
      var code = e && e.code;
      if (phone.session) {
        // Without the socket this call cannot be controlled, and Hotline ends the
        // leg the socket carried (controller/phone_calls.py): end it here too.
        var lost = phone.session;
        try { lost.terminate(); } catch (error) { /* no transport for the BYE */ }
        if (phone.session === lost) { finished(); }
        phone.lostCall = true;
        say("The connection to the phone server was lost during the call: the call " +
          "has ended for you (the caller goes on as when you hang up).");
      }
      if (code === 4009 && phone.retries < 3) {
        // A reload: the previous page's socket may not be closed on the server yet.
        phone.retries += 1;
        setState("connecting", "waiting for the previous phone to close…");
        ua.stop();
        setTimeout(function () { ua.start(); }, 1500);
        return;
      }
      if (code === 4009 || code === 4001 || code === 4503) {
        phone.stopped = true;
        ua.stop();
        setState("error", "not registered");
        say(code === 4009
          ? "Your browser phone is already open in another tab or window: use that one, or " +
            "close it and reload this desk."
          : code === 4001
            ? "Your login session has ended: sign in again to use the phone."
            : "The telephony server is not reachable; the phone retries when you reload.");
        return;
      }
      setState("connecting", "connection lost; reconnecting…");
    });
    ua.on("newRTCSession", function (e) {
      if (e.originator !== "remote") { return; }
      if (phone.session) {  // one call at a time: the desk's call is the one
        e.session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
        return;
      }
      incoming(e.session, e.request);
    });
    ua.start();
    window.addEventListener("pagehide", function () {
      phone.stopped = true;
      if (phone.ua) { phone.ua.stop(); }  // BYE, un-REGISTER, close the socket
    });
  }

  // ---- calls ------------------------------------------------------------------------

  function callerText(request) {
    var frame = phone.call;
    if (frame && frame.card && frame.card.known) {
      var c = frame.card.customer || {};
      return c.name || c.phone || c.email || "customer";
    }
    var from = request && request.from;
    return (from && (from.display_name || from.uri.user)) || "caller";
  }

  function incoming(session, request) {
    phone.session = session;
    if (phone.lostCall) { phone.lostCall = false; say(""); }
    var queue = phone.call && phone.call.call && phone.call.call.queue;
    ui.caller.textContent = "Incoming call: " + callerText(request) +
      (queue ? " (queue " + queue + ")" : "");
    ui.incoming.hidden = false;
    setState("ringing", "ringing");
    startRinging();
    notify("Incoming call", ui.caller.textContent);
    session.on("peerconnection", function (e) { watch(e.peerconnection); });
    session.on("accepted", function () {
      stopRinging();
      ui.incoming.hidden = true;
      ui.talking.hidden = false;
      setState("talking", "on a call");
    });
    session.on("ended", function () { finished(); });
    session.on("failed", function (e) {
      finished();
      if (e.cause === JsSIP.C.causes.USER_DENIED_MEDIA_ACCESS) {
        say(microphoneProblem({ name: "NotAllowedError" }));
      }
    });
  }

  function watch(pc) {
    pc.addEventListener("track", function (e) {
      phone.audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      var playing = phone.audio.play();
      if (playing && playing.catch) { playing.catch(function () {}); }
    });
    var poll = setInterval(function () {
      if (pc.connectionState === "closed") { clearInterval(poll); return; }
      pc.getStats().then(function (report) {
        report.forEach(function (s) {
          if (s.type === "outbound-rtp" && s.kind === "audio") {
            phone.stats.packetsSent = s.packetsSent;
            phone.stats.bytesSent = s.bytesSent;
          } else if (s.type === "inbound-rtp" && s.kind === "audio") {
            phone.stats.packetsReceived = s.packetsReceived;
            phone.stats.bytesReceived = s.bytesReceived;
            phone.stats.audioEnergy = s.totalAudioEnergy || 0;
          } else if (s.type === "transport") {
            phone.stats.dtls = s.dtlsState || "";
            phone.stats.srtpCipher = s.srtpCipher || "";
          }
        });
      }).catch(function () {});
    }, 1000);
  }

  function answer() {
    var session = phone.session;
    if (!session) { return; }
    stopRinging();
    session.answer({
      mediaConstraints: audioConstraints(),
      // ICE host candidates only: desk and Asterisk are on one LAN.
      pcConfig: { iceServers: [], rtcpMuxPolicy: "require", bundlePolicy: "max-bundle" },
    });
  }

  function decline() {
    if (phone.session) { phone.session.terminate({ status_code: 486, reason_phrase: "Busy Here" }); }
  }

  function hangup() {
    if (phone.session) { phone.session.terminate(); }
  }

  function toggleMute() {
    var session = phone.session;
    if (!session) { return; }
    if (session.isMuted().audio) {
      session.unmute({ audio: true });
      ui.mute.textContent = "Mute";
      ui.mute.dataset.muted = "false";
    } else {
      session.mute({ audio: true });
      ui.mute.textContent = "Unmute";
      ui.mute.dataset.muted = "true";
    }
  }

  function sendKey(key) {
    if (phone.session && phone.session.isEstablished()) {
      phone.session.sendDTMF(key, { transportType: "RFC2833", duration: 160 });
    }
  }

  function finished() {
    stopRinging();
    phone.session = null;
    ui.incoming.hidden = true;
    ui.talking.hidden = true;
    ui.mute.textContent = "Mute";
    ui.mute.dataset.muted = "false";
    phone.audio.srcObject = null;
    if (phone.ua && phone.ua.isRegistered()) { setState("registered", "ready"); }
  }

  // A ring tone made in the page (no sound file to fetch): 440+480 Hz, 2 s on, 4 s off.
  function startRinging() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      var ctx = new Context();
      var gain = ctx.createGain();
      gain.gain.value = 0;
      gain.connect(ctx.destination);
      [440, 480].forEach(function (f) {
        var o = ctx.createOscillator();
        o.frequency.value = f;
        o.connect(gain);
        o.start();
      });
      var on = true;
      var cadence = function () { gain.gain.value = on ? 0.05 : 0; on = !on; };
      cadence();
      phone.ring = { ctx: ctx, timer: setInterval(cadence, 2000) };
    } catch (error) { phone.ring = null; }
  }

  function stopRinging() {
    if (!phone.ring) { return; }
    clearInterval(phone.ring.timer);
    phone.ring.ctx.close();
    phone.ring = null;
  }

  function notify(title, body) {
    if (!document.hidden || !window.Notification) { return; }
    if (Notification.permission === "granted") {
      new Notification(title, { body: body, tag: "hotline-call" });
    }
  }

  // desk.js tells which call is the desk's (the customer card) and when it ends.
  document.addEventListener("hotline:call", function (e) {
    phone.call = e.detail;
    if (phone.session && !ui.incoming.hidden) {
      ui.caller.textContent = "Incoming call: " + callerText(null);
    }
  });
  document.addEventListener("hotline:call_ended", function () { phone.call = null; });

  document.addEventListener("DOMContentLoaded", function () {
    build();
    if (window.Notification && Notification.permission === "default") {
      ui.incoming.addEventListener("click", function () { Notification.requestPermission(); },
        { once: true });
    }
    start();
  });
})();
