/* The desk's consultation controls on the live call panel: Consult (the target and
 * note of the transfer picker), then, while consulting, the consultation's state and
 * Complete / Conference / Cancel (POST /api/calls/{contact}/{action},
 * hotline/web/calls_api.py). The call frame's `control` (the call's state: held,
 * consult {to, state, party}, conference) says what is going on; desk.js redraws the
 * panel on each call.consult_* / call.conference_* event, and this draws into it.
 * A refusal (a number the dial rules refuse, an agent who cannot take it, ...) is
 * shown in the picker and the toast; the call goes on untouched. */
(function () {
  "use strict";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function button(label, onClick, cls) {
    var b = el("button", cls, label);
    b.type = "button";
    b.addEventListener("click", onClick);
    return b;
  }

  // What the agent reads about the consultation in progress.
  function status(consult, conference) {
    if (conference) { return "Conference with " + (consult.party || consult.to); }
    if (consult.state === "talking") {
      return "Consulting " + (consult.party || consult.to) + " (caller on hold)";
    }
    return "Calling " + consult.to + "… (caller on hold)";
  }

  // `call`: the frame's call; `transfer`: desk.js's picker and note ({pick, note});
  // `row`: the panel's control row (its hold and transfer controls step aside while a
  // consultation runs: the consultation's own commands end it first); `api`: {post,
  // toast} of desk.js. The panel (#call) gets data-consult: ringing, talking or
  // conference.
  function controls(call, transfer, row, api) {
    var state = call.control || {};
    var consult = state.consult;
    var box = el("div", "consult-tools");
    var path = "/api/calls/" + encodeURIComponent(call.contact_id) + "/";
    var act = function (action, body) {
      return function () {
        if (transfer && transfer.pick) { transfer.pick.error(""); }
        return api.post(path + action, body ? body() : {}).catch(function (error) {
          if (transfer && transfer.pick && action === "consult") {
            transfer.pick.error(error.message);
          }
          api.toast(error.message);
        });
      };
    };
    var panel = document.getElementById("call");
    if (!consult) {
      if (panel) { delete panel.dataset.consult; }
      box.appendChild(button("Consult", act("consult", function () {
        return { to: transfer.pick.target(), note: transfer.note.value.trim() };
      }), "consult"));
      return box;
    }
    var phase = state.conference ? "conference" : consult.state;
    if (panel) { panel.dataset.consult = phase; }
    Array.prototype.forEach.call(
      row.querySelectorAll("button.hold, button.resume, .transfer-tools"),
      function (node) { node.hidden = true; }
    );
    var line = el("p", "consult-state", status(consult, state.conference));
    line.dataset.state = phase;
    box.appendChild(line);
    if (consult.state === "talking") {
      box.appendChild(button(state.conference ? "Leave them together" : "Complete transfer",
        act("complete"), "complete"));
      if (!state.conference) {
        box.appendChild(button("Conference", act("conference"), "conference"));
      }
    }
    if (!state.conference) {
      box.appendChild(button("Cancel, back to caller", act("cancel"), "cancel"));
    }
    return box;
  }

  window.DeskConsult = { controls: controls };
}());
