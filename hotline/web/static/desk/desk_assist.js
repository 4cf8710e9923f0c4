// Agent assist on the desk: knowledge-base articles suggested for what the customer
// last wrote (/api/assist, hotline/web/assist_api.py), a search box, and a file to
// send. "Insert" puts an article's answer in the reply box; "Send card" sends it as
// a card. On a call, the caller's live transcript (where the queue has one,
// ari_app/live_transcript.py) runs above the articles, each new line refreshing them;
// the answer is shown to read out, and "Add to notes" puts it in the call's note (the
// customer's history says what they were told). Every text goes in through
// textContent: articles and messages may hold markup.
(function () {
  "use strict";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function getJson(path) {
    return fetch(path, { credentials: "same-origin" }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) { throw new Error(body.error || "failed (" + response.status + ")"); }
        return body;
      });
    });
  }

  // The answer as plain text for the reply box: the answer, then each web link.
  function asText(article) {
    var lines = [article.answer];
    (article.links || []).forEach(function (link) {
      if (link.url) { lines.push(link.title + ": " + link.url); }
    });
    return lines.join("\n");
  }

  // The article as a line of the call's note: what the caller was told.
  function asNote(article) {
    return article.title + ": " + asText(article);
  }

  // opts: contactId, input (the reply box), send (frame -> bool), toast, language,
  // notes (() -> the call's note box, or null), live (a call: show its transcript).
  function panel(opts) {
    var box = el("div", "assist");
    box.dataset.contactId = opts.contactId;
    var transcript = el("ol", "live-transcript");  // the caller's words, live
    var state = el("div", "live-transcript-state");
    transcript.hidden = true;
    state.hidden = true;
    if (opts.live) { box.appendChild(transcript); box.appendChild(state); }
    var head = el("div", "assist-head", "Suggested articles");
    var list = el("ul", "assist-list");
    var search = el("form", "assist-search");
    var query = el("input", "assist-query");
    query.type = "search";
    query.maxLength = 1000;
    query.placeholder = "Search the knowledge base…";
    var go = el("button", "assist-go", "Search");
    go.type = "submit";
    search.appendChild(query);
    search.appendChild(go);
    var results = el("ul", "assist-list assist-results");  // the agent's own search
    var files = el("label", "assist-file", "Send a file ");
    var picker = el("input", "assist-file-input");
    picker.type = "file";
    files.appendChild(picker);
    [head, list, search, results].forEach(function (n) { box.appendChild(n); });
    if (opts.send) { box.appendChild(files); }  // a call has nobody to send a file to
    var sent = 0;

    // Redrawn only when the articles change: a button under the agent's pointer stays.
    function show(into, articles, empty) {
      var key = articles.map(function (a) { return a.article; }).join(" ") || "-" + empty;
      if (into.dataset.shown === key) { return; }
      into.dataset.shown = key;
      into.textContent = "";
      if (!articles.length) { into.appendChild(el("li", "assist-empty", empty)); return; }
      articles.forEach(function (article) {
        var item = el("li", "assist-article");
        item.dataset.article = article.article;
        item.appendChild(el("div", "assist-title", article.title));
        item.appendChild(el("div", "assist-answer", article.answer));
        if (opts.input) {
          var insert = el("button", "assist-insert", "Insert");
          insert.type = "button";
          insert.addEventListener("click", function () {
            opts.input.value = asText(article);
            opts.input.focus();
          });
          item.appendChild(insert);
        }
        if (opts.notes) {
          var note = el("button", "assist-insert assist-to-notes", "Add to notes");
          note.type = "button";
          note.addEventListener("click", function () {
            var into = opts.notes();
            if (!into) { opts.toast("No note box for this call"); return; }
            into.value = (into.value ? into.value + "\n" : "") + asNote(article);
            into.focus();
          });
          item.appendChild(note);
        }
        if (article.card && opts.send) {
          var card = el("button", "assist-send-card", "Send card");
          card.type = "button";
          card.addEventListener("click", function () {
            sent += 1;
            opts.send({ type: "send", contact_id: opts.contactId,
              id: "k" + Date.now() + "-" + sent, rich: article.card });
          });
          item.appendChild(card);
        }
        into.appendChild(item);
      });
    }

    var lines = {};  // utterance number -> shown (a pushed line and a reload overlap)
    function addLine(line) {
      var key = String(line.utterance);
      if (lines[key]) { return; }
      lines[key] = true;
      var item = el("li", "live-line", line.text);
      item.dataset.utterance = key;
      item.dataset.side = line.side || "caller";
      transcript.appendChild(item);
      transcript.hidden = false;
      transcript.scrollTop = transcript.scrollHeight;
    }
    function stopped(reason) {
      if (!reason) { return; }
      state.textContent = "Transcription stopped (" + reason + "); the call goes on";
      state.hidden = false;
      box.dataset.transcription = "stopped";
    }
    box.transcribed = function (frame) {  // a line pushed by the desk (desk.js)
      if (frame.event === "call.transcription_stopped") { stopped(frame.reason); return; }
      addLine(frame);
      box.customerSaid();
    };

    function suggest() {
      getJson("/api/assist/contacts/" + encodeURIComponent(opts.contactId) + "/suggestions")
        .then(function (found) {
          (found.transcript || []).forEach(addLine);
          stopped(found.transcription_stopped);
          head.textContent = found.question ? "Suggested for: " + found.question
                                            : "Suggested articles";
          show(list, found.articles || [], "No article matches the customer's words");
        })
        .catch(function (error) { head.textContent = "Suggestions: " + error.message; });
    }

    search.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = query.value.trim();
      if (!q) { return; }
      var language = opts.language ? "&language=" + encodeURIComponent(opts.language) : "";
      getJson("/api/assist/search?q=" + encodeURIComponent(q) + language)
        .then(function (found) {
          show(results, found.articles || [], "Nothing found for: " + q);
        })
        .catch(function (error) { opts.toast(error.message); });
    });

    picker.addEventListener("change", function () {
      var chosen = picker.files && picker.files[0];
      if (!chosen) { return; }
      fetch("/desk/chats/" + encodeURIComponent(opts.contactId) + "/files", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": chosen.type || "application/octet-stream",
                   "X-Filename": encodeURIComponent(chosen.name) },
        body: chosen
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (!response.ok) { throw new Error(body.error || "the file was not sent"); }
        });
      }).catch(function (error) { opts.toast("File not sent: " + error.message); })
        .then(function () { picker.value = ""; });
    });

    var timer = null;
    box.customerSaid = function () {  // after a burst of messages, once
      clearTimeout(timer);
      timer = setTimeout(suggest, 400);
    };
    suggest();
    return box;
  }

  // A call being talked: the caller's live transcript and articles for their latest
  // words (or, with no live transcript, what they said to the voice flow by speech and
  // the call's recording transcripts), to read out; kept while the call panel is redrawn.
  var callPanel = null;
  document.addEventListener("hotline:call", function (event) {
    var call = event.detail && event.detail.call;
    var box = document.getElementById("call");
    if (!call || !box || call.phase !== "talking") { return; }
    if (!callPanel || callPanel.dataset.contactId !== call.contact_id) {
      callPanel = panel({ contactId: call.contact_id, input: null, send: null, live: true,
        notes: function () { return box.querySelector("textarea.note"); },
        toast: function (text) { callPanel.querySelector(".assist-head").textContent = text; },
        language: event.detail.card && event.detail.card.language });
    }
    box.appendChild(callPanel);
  });
  document.addEventListener("hotline:transcript", function (event) {
    var frame = event.detail;
    if (callPanel && frame && callPanel.dataset.contactId === frame.contact_id) {
      callPanel.transcribed(frame);
    }
  });

  window.DeskAssist = { panel: panel, asText: asText };
})();
