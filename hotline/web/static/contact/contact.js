// The contact page: search contacts, review one (timeline, recording with its
// transcript following the player, chat, wrap-up, notes) and evaluate it.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : "");
const pct = (v) => (v === null || v === undefined ? "n/a" : `${v.toFixed(1)} %`);

async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

let searches = 0; // the latest search asked: an older answer arriving late is dropped

async function search(event) {
  if (event) event.preventDefault();
  const params = new URLSearchParams();
  for (const [key, value] of new FormData($("#search"))) if (value) params.set(key, value);
  $("#search-error").textContent = "";
  const asked = ++searches;
  let found;
  try {
    found = await getJSON(`/api/contact_search?${params}`);
  } catch (problem) {
    if (asked === searches) $("#search-error").textContent = problem.message;
    return;
  }
  if (asked !== searches) return;
  const body = $("#results tbody");
  body.replaceChildren(
    ...found.contacts.map((c) =>
      el("tr", { "data-id": c.id, onclick: () => show(c.id) },
        el("td", {}, time(c.started_at)), el("td", {}, c.channel), el("td", {}, c.from),
        el("td", {}, c.queue || ""), el("td", {}, c.agents.join(", ")), el("td", {}, c.outcome),
        el("td", {}, c.seconds === null ? "" : `${Math.round(c.seconds)} s`)))
  );
  $("#results-empty").hidden = found.contacts.length > 0;
  $("#results").dataset.query = params.toString(); // what the rows shown answer
  history.replaceState(null, "", `/contacts?${params}`);
}

let current = null;

async function show(id) {
  for (const row of document.querySelectorAll("#results tbody tr"))
    row.classList.toggle("chosen", row.dataset.id === id);
  let data;
  try {
    data = await getJSON(`/api/contacts/${encodeURIComponent(id)}/review`);
  } catch (problem) {
    $("#search-error").textContent = problem.message;
    return;
  }
  current = data;
  const c = data.contact;
  $("#contact").hidden = false;
  $("#contact-title").textContent = `${c.channel} contact ${c.id}`;
  const facts = [["From", c.from], ["To", c.to], ["Started", time(c.started_at)],
    ["Ended", time(c.ended_at)], ["Outcome", c.outcome], ["Queue", c.queue || ""],
    ["Agents", c.agents.join(", ")], ["Language", c.language || ""]];
  $("#facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  renderMedia(data);
  const chat = data.chat;
  $("#chat-block").hidden = chat.length === 0;
  $("#chat").replaceChildren(...chat.map((m) =>
    el("li", { class: m.from }, el("span", { class: "from" }, `${time(m.at)} ${m.agent || m.from}`), m.text)));
  $("#wrap-up").textContent = data.wrap_up ? `Wrap-up code: ${data.wrap_up}` : "No wrap-up code.";
  $("#notes").replaceChildren(...data.notes.map((n) => el("li", {}, `${n.by}: ${n.text}`)));
  renderEvaluations(data);
  $("#timeline tbody").replaceChildren(...data.timeline.map((e) =>
    el("tr", {}, el("td", {}, time(e.at)), el("td", {}, e.type), el("td", {}, e.queue || ""),
      el("td", {}, e.agent || ""), el("td", {}, JSON.stringify(e.data)))));
  history.replaceState(null, "", `/contacts?${new URLSearchParams({ ...Object.fromEntries(new URLSearchParams(location.search)), id })}`);
}

function renderMedia(data) {
  const id = encodeURIComponent(data.contact.id);
  const players = data.recordings.map((r) => {
    const audio = el("audio", { controls: "", preload: "none", "data-name": r.name,
      src: `/api/contacts/${id}/recordings/${encodeURIComponent(r.name)}` });
    return el("div", { class: "recording" }, el("h3", {}, `Recording ${r.name}`), audio);
  });
  $("#recordings").replaceChildren(...players);
  const texts = data.transcripts.map((t) => {
    const words = (t.words || []).map((w) =>
      el("span", { "data-start": w.start, "data-end": w.end, title: `${w.start.toFixed(1)} s` }, w.word));
    const box = el("p", { class: "transcript", "data-recording": t.recording },
      ...(words.length ? words.flatMap((w) => [w, " "]) : [t.text]));
    return el("div", {}, el("h3", {}, `Transcript (${t.language}, ${t.engine})`), box);
  });
  $("#transcripts").replaceChildren(...texts);
  // The transcript follows the player, and a click on a word plays from there.
  for (const audio of document.querySelectorAll("#recordings audio")) {
    const box = [...document.querySelectorAll(".transcript")].find((b) =>
      b.dataset.recording === audio.dataset.name || b.dataset.recording.endsWith(audio.dataset.name))
      || document.querySelector(".transcript");
    if (!box) continue;
    audio.addEventListener("timeupdate", () => {
      for (const span of box.querySelectorAll("span"))
        span.classList.toggle("now", audio.currentTime >= +span.dataset.start && audio.currentTime < +span.dataset.end);
    });
    box.addEventListener("click", (event) => {
      const start = event.target.dataset && event.target.dataset.start;
      if (start !== undefined) { audio.currentTime = +start; audio.play().catch(() => {}); }
    });
  }
}

function renderEvaluations(data) {
  $("#evaluations tbody").replaceChildren(...data.evaluations.map((e) =>
    el("tr", {}, el("td", {}, time(e.created_at)), el("td", {}, e.evaluator), el("td", {}, e.agent),
      el("td", {}, e.form), el("td", { class: "score" }, pct(e.score)),
      el("td", { class: e.passed ? "pass" : "fail" },
        e.passed ? "pass" : e.failed_by.length ? `fail (${e.failed_by.join(", ")})` : "below pass mark"))));
  const select = $("#evaluate select[name=form]");
  select.replaceChildren(...data.forms.map((f) => el("option", { value: f.form }, f.title)));
  select.onchange = () => renderQuestions(data.forms.find((f) => f.form === select.value));
  renderQuestions(data.forms[0]);
  $("#evaluate").hidden = data.forms.length === 0;
  showCalibration(data);
}

async function showCalibration(data) {
  const forms = [...new Set(data.evaluations.map((e) => e.form))];
  const lines = [];
  for (const form of forms) {
    const spread = await getJSON(`/api/contacts/${encodeURIComponent(data.contact.id)}/calibration?form=${form}`);
    if (spread.total.evaluators < 2) continue;
    const wide = Object.entries(spread.questions).filter(([, s]) => s.range)
      .sort((a, b) => b[1].range - a[1].range).slice(0, 3)
      .map(([q, s]) => `${q} ${s.range.toFixed(0)}`);
    lines.push(`Calibration (${form}): ${spread.total.evaluators} evaluators, scores ${pct(spread.total.low)} to ` +
      `${pct(spread.total.high)} (spread ${spread.total.range.toFixed(1)} points, sd ${spread.total.stdev.toFixed(1)})` +
      (wide.length ? `; most apart: ${wide.join(", ")}` : ""));
  }
  $("#calibration").textContent = lines.join(" ");
}

function renderQuestions(form) {
  const box = $("#questions");
  if (!form) { box.replaceChildren(); return; }
  box.replaceChildren(...form.sections.map((section) =>
    el("fieldset", {}, el("legend", {}, section.title), ...section.questions.map((q) => {
      const choices = q.type === "yes_no" ? ["yes", "no"] : range(q.scale.min, q.scale.max);
      if (q.na_allowed) choices.push("na");
      const options = choices.map((value) =>
        el("label", {}, el("input", { type: "radio", name: `q:${q.id}`, value: String(value), required: "" }),
          ` ${value === "na" ? "n/a" : value} `));
      return el("div", { class: "q", "data-question": q.id },
        el("div", {}, q.text + (q.fail_all ? " (a no fails the evaluation)" : "")), ...options);
    }))));
}

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

async function evaluate(event) {
  event.preventDefault();
  const fields = new FormData($("#evaluate"));
  const answers = {};
  for (const [key, value] of fields) {
    if (!key.startsWith("q:")) continue;
    answers[key.slice(2)] = /^\d+$/.test(value) ? Number(value) : value;
  }
  $("#evaluate-error").textContent = "";
  $("#evaluate-result").textContent = "";
  try {
    const saved = await getJSON(`/api/contacts/${encodeURIComponent(current.contact.id)}/evaluations`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ form: fields.get("form"), answers, comment: fields.get("comment") || "" }),
    });
    $("#evaluate-result").textContent = `Saved: ${pct(saved.evaluation.score)} (${saved.evaluation.passed ? "pass" : "fail"})`;
    $("#evaluate").reset();
    const id = current.contact.id;
    await show(id);
    $("#evaluate-result").textContent = `Saved: ${pct(saved.evaluation.score)} (${saved.evaluation.passed ? "pass" : "fail"})`;
  } catch (problem) {
    $("#evaluate-error").textContent = problem.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of params) {
    const input = $(`#search [name=${key}]`);
    if (input) input.value = value;
  }
  $("#search").addEventListener("submit", search);
  $("#evaluate").addEventListener("submit", evaluate);
  search().then(() => { if (params.get("id")) show(params.get("id")); });
});
