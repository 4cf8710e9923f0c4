// The reports page: the form's query goes to /api/reports (tables), the charts are
// server-drawn SVG images; CSV and SVG download as they are, PNG is drawn here.
"use strict";

(function () {
  const form = document.getElementById("query");
  const errorBox = document.getElementById("error");
  const heading = document.getElementById("heading");
  const charts = document.getElementById("charts");
  const tables = document.getElementById("tables");

  function today() {
    const d = new Date();
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  }

  function params() {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) p.set(k, v);
    return p.toString();
  }

  function show(value, kind) {
    if (value === null || value === undefined) return "–";
    if (kind === "pct") return `${value.toFixed(1)}%`;
    if (kind === "sec") {
      if (value < 60) return `${value.toFixed(1)}s`;
      const s = Math.round(value), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
      const two = (n) => String(n).padStart(2, "0");
      return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
    }
    if (kind === "num") return value.toFixed(2);
    return String(value);
  }

  function link(text, href, download) {
    const a = document.createElement("a");
    a.textContent = text;
    a.href = href;
    if (download) a.download = download;
    return a;
  }

  function drawTable(name, table, query) {
    const h2 = document.createElement("h2");
    h2.textContent = table.title;
    h2.appendChild(link("CSV", `/api/reports/${name}.csv?${query}`, `hotline-${name}.csv`));
    const el = document.createElement("table");
    el.dataset.table = name;
    const head = el.createTHead().insertRow();
    for (const c of table.columns) {
      const th = document.createElement("th");
      th.textContent = c.title;
      if (c.kind === "text") th.className = "text";
      head.appendChild(th);
    }
    const body = el.createTBody();
    for (const row of table.rows) {
      const tr = body.insertRow();
      for (const c of table.columns) {
        const td = tr.insertCell();
        td.textContent = show(row[c.key], c.kind);
        td.dataset.key = c.key;
        if (c.kind === "text") td.className = "text";
      }
    }
    tables.append(h2, el);
    if (!table.rows.length) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = "No data in this period.";
      tables.appendChild(p);
    }
    if (table.note) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = table.note;
      tables.appendChild(p);
    }
  }

  function png(img, name) {
    // Draw the (same-origin) SVG on a canvas and save that.
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.getContext("2d").drawImage(img, 0, 0);
    canvas.toBlob((blob) => {
      const a = link("", URL.createObjectURL(blob), `hotline-${name}.png`);
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    }, "image/png");
  }

  function drawCharts(query) {
    for (const fig of charts.querySelectorAll("figure")) {
      const name = fig.dataset.chart;
      const img = fig.querySelector("img");
      const src = `/api/reports/charts/${name}.svg?${query}`;
      img.src = src;
      const caption = fig.querySelector("figcaption");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "PNG";
      button.addEventListener("click", () => png(img, name));
      caption.replaceChildren(link("SVG", src, `hotline-${name}.svg`), button);
    }
    charts.hidden = false;
  }

  async function run(event) {
    if (event) event.preventDefault();
    const query = params();
    history.replaceState(null, "", `?${query}`);
    errorBox.hidden = true;
    const response = await fetch(`/api/reports?${query}`, { headers: { Accept: "application/json" } });
    const data = await response.json();
    tables.replaceChildren();
    if (!response.ok) {
      errorBox.textContent = data.error || `error ${response.status}`;
      errorBox.hidden = false;
      charts.hidden = true;
      heading.textContent = "";
      return;
    }
    heading.textContent = data.heading;
    drawCharts(query);
    for (const [name, table] of Object.entries(data.tables)) drawTable(name, table, query);
    document.body.dataset.loaded = query;
  }

  const given = new URLSearchParams(location.search);
  for (const el of form.elements) {
    if (el.name && given.has(el.name)) el.value = given.get(el.name);
  }
  if (!form.elements.from.value) form.elements.from.value = today();
  if (!form.elements.to.value) form.elements.to.value = form.elements.from.value;
  form.addEventListener("submit", run);
  run();
})();
