// The quality and staffing report pages: the query form, tables, charts, CSV links.
"use strict";

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

function show(value, kind) {
  if (value === null || value === undefined) return "-";
  if (kind === "pct") return `${Number(value).toFixed(1)} %`;
  if (kind === "sec") return `${Math.round(value)} s`;
  if (kind === "num") return Number(value).toFixed(2).replace(/\.?0+$/, "");
  return String(value);
}

function renderTable(table, csvUrl) {
  const head = el("tr", {}, ...table.columns.map((c) => el("th", {}, c.title)));
  const rows = table.rows.map((row) =>
    el("tr", {}, ...table.columns.map((c) => el("td", { "data-key": c.key }, show(row[c.key], c.kind)))));
  const link = el("a", { href: csvUrl, download: "" }, "CSV");
  return el("section", { "data-table": table.name },
    el("h3", {}, table.title, " ", link),
    el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)),
    table.note ? el("p", { class: "note" }, table.note) : "");
}

async function run(event) {
  if (event) event.preventDefault();
  const body = document.body.dataset;
  const params = new URLSearchParams();
  for (const [key, value] of new FormData($("#query"))) if (value) params.set(key, value);
  $("#error").textContent = "";
  const response = await fetch(`${body.api}?${params}`);
  const data = await response.json();
  if (!response.ok) {
    $("#error").textContent = data.error;
    return;
  }
  const tables = data.tables ? Object.values(data.tables) : [data.table];
  $("#tables").replaceChildren(...tables.map((t) =>
    renderTable(t, `${body.csv.replace("{table}", t.name)}?${params}`)));
  const join = (url) => `${url}${url.includes("?") ? "&" : "?"}${params}`;
  $("#charts").replaceChildren(...body.charts.split(" ").map((url) => el("img", { src: join(url), alt: "chart" })));
  if ($("#summary") && data.target !== undefined) {
    $("#summary").textContent = `Target ${data.target} % within ${data.threshold} s, shrinkage ` +
      `${Math.round(data.shrinkage * 100)} %, history ${data.history[0]} to ${data.history[1]}.`;
  }
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const [key, value] of new URLSearchParams(location.search)) {
    const input = $(`#query [name=${key}]`);
    if (input) input.value = value;
  }
  $("#query").addEventListener("submit", run);
  run();
});
