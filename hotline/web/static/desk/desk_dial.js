/* The desk's outbound calls (hotline/web/calls_api.py): a number to dial, a Call button
 * on the customer card (the customer's phone), and the booked callbacks of the agent's
 * queues, each with "Call now". The agent's phone rings first; once they answer, the
 * customer is dialed with the queue's caller id. A refusal is shown where it was asked
 * for (role=alert), as the server words it. desk.js tells this file of each customer
 * card it draws ("hotline:card"). */
(function () {
  "use strict";

  var REFRESH_MS = 10000;
  var state = { queues: [], timer: null };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function request(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
        return data;
      });
    });
  }

  // A status line under what was clicked: progress (status) or a refusal (alert).
  function say(line, text, failed) {
    line.textContent = text;
    line.hidden = !text;
    line.className = "dial-status" + (failed ? " dial-error" : "");
    line.setAttribute("role", failed ? "alert" : "status");
  }

  function place(path, body, line, button) {
    say(line, "Calling… your phone rings first.", false);
    if (button) { button.disabled = true; }
    return request("POST", path, body)
      .then(function () {
        say(line, "Answer your phone: the customer is dialed when you do.", false);
        refreshCallbacks();
      })
      .catch(function (error) { say(line, error.message, true); })
      .finally(function () { if (button) { button.disabled = false; } });
  }

  function queueChoice() {
    var select = document.getElementById("dial-queue");
    return select && select.value ? select.value : undefined;
  }

  function panel() {
    var card = document.getElementById("card");
    var box = el("section", "dial");
    box.id = "dial";
    box.appendChild(el("h2", "", "Call out"));
    var form = el("form", "dial-form");
    var number = el("input");
    number.id = "dial-number";
    number.type = "tel";
    number.placeholder = "Number to call";
    number.setAttribute("aria-label", "Number to call");
    number.autocomplete = "off";
    var queue = el("select");
    queue.id = "dial-queue";
    queue.setAttribute("aria-label", "Call for queue");
    var go = el("button", "dial-call", "Call");
    go.type = "submit";
    var line = el("p", "dial-status");
    line.id = "dial-status";
    line.hidden = true;
    form.appendChild(number);
    form.appendChild(queue);
    form.appendChild(go);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var typed = number.value.trim();
      if (!typed) { say(line, "Type the number to call.", true); return; }
      place("/api/calls", { to: "number:" + typed, queue: queueChoice() }, line, go);
    });
    box.appendChild(form);
    box.appendChild(line);
    box.appendChild(el("h3", "", "Booked callbacks"));
    var list = el("ul", "dial-callbacks");
    list.id = "dial-callbacks";
    box.appendChild(list);
    card.insertBefore(box, card.querySelector("h2"));
  }

  function loadQueues() {
    return request("GET", "/api/calls/outbound").then(function (data) {
      state.queues = data.queues || [];
      var select = document.getElementById("dial-queue");
      select.textContent = "";
      state.queues.forEach(function (q) {
        var option = el("option", "", "Queue " + q);
        option.value = q;
        select.appendChild(option);
      });
      select.hidden = state.queues.length < 2;
    });
  }

  function refreshCallbacks() {
    var list = document.getElementById("dial-callbacks");
    if (!list) { return; }
    request("GET", "/api/callbacks").then(function (data) {
      var mine = (data.callbacks || []).filter(function (c) {
        return state.queues.indexOf(c.queue) >= 0;
      });
      list.textContent = "";
      if (!mine.length) { list.appendChild(el("li", "empty", "None waiting.")); }
      mine.forEach(function (c) {
        var item = el("li", "dial-callback");
        item.dataset.id = c.id;
        var what = c.number + " · " + c.queue + (c.attempts ? " · tried " + c.attempts : "");
        item.appendChild(el("span", "", what));
        if (c.agent) {
          item.appendChild(el("span", "busy", " · being called by " + c.agent));
        } else {
          var line = el("p", "dial-status");
          line.hidden = true;
          var call = el("button", "dial-now", "Call now");
          call.type = "button";
          call.addEventListener("click", function () {
            place("/api/callbacks/" + encodeURIComponent(c.id) + "/call", undefined, line, call);
          });
          item.appendChild(call);
          item.appendChild(line);
        }
        list.appendChild(item);
      });
    }).catch(function () { /* the list stays as it was; the next refresh tries again */ });
  }

  // The call panel says when the live call is one the agent placed.
  document.addEventListener("hotline:call", function (event) {
    var frame = event.detail || {};
    var title = document.querySelector("#call .title");
    if (!title || !frame.card || frame.card.channel !== "outbound") { return; }
    if (title.textContent.indexOf("(outbound)") < 0) { title.textContent += " (outbound)"; }
  });

  // The customer card: a Call button for the customer's phone on record.
  document.addEventListener("hotline:card", function (event) {
    var card = event.detail && event.detail.card;
    var body = event.detail && event.detail.body;
    var customer = card && card.known && card.customer;
    if (!body || !customer || !customer.phone || !customer.id) { return; }
    var row = el("div", "dial-customer");
    var call = el("button", "dial-customer-call", "Call " + customer.phone);
    call.type = "button";
    var line = el("p", "dial-status");
    line.hidden = true;
    call.addEventListener("click", function () {
      place("/api/calls", { to: "customer:" + customer.id, queue: queueChoice() }, line, call);
    });
    row.appendChild(call);
    row.appendChild(line);
    body.appendChild(row);
  });

  function start() {
    panel();
    loadQueues().then(refreshCallbacks).catch(function (error) {
      say(document.getElementById("dial-status"), error.message, true);
    });
    state.timer = setInterval(refreshCallbacks, REFRESH_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
