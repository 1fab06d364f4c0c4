// The operator portal's only script: sortable and searchable tables, and a refresh of
// the overview figures and the health strip every 30 seconds. Everything it shows is there without it.
"use strict";

function cellValue(row, column) {
  const cell = row.cells[column];
  if (!cell) return "";
  const value = cell.dataset.value;
  return value !== undefined ? Number(value) : cell.textContent.trim().toLowerCase();
}

function sortBy(table, column, header) {
  const ascending = header.getAttribute("aria-sort") !== "ascending";
  for (const th of table.tHead.rows[0].cells) th.removeAttribute("aria-sort");
  header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = cellValue(a, column), y = cellValue(b, column);
    const order = x < y ? -1 : x > y ? 1 : 0;
    return ascending ? order : -order;
  });
  for (const row of rows) body.appendChild(row);
}

function filter(table, query) {
  const needle = query.trim().toLowerCase();
  for (const row of table.tBodies[0].rows) {
    row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  }
}

const FORMAT = {
  paidIn: (v) => v + " IOTA", fees: (v) => v + " IOTA", payouts: (v) => v + " IOTA",
  cashHeld: (v) => v + " IOTA", owedToProducers: (v) => v + " IOTA",
  savings: (v) => v + " IOTA", gains: (v) => v + " IOTA",
  batchesPending: String,
};

// As the page says a span of time.
function span(secs) {
  return secs < 120 ? secs + " s" : secs < 7200 ? Math.floor(secs / 60) + " min" : Math.floor(secs / 3600) + " h";
}

// The health strip: each item's value, and red where an alarm would fire.
function showHealth(overview) {
  const health = overview.health;
  const items = {
    settlementLag: [health.settlementLagSecs === null ? "nothing settled" : span(health.settlementLagSecs), health.settlementBehind],
    pollLag: [health.pollLagSecs === null ? "not swept yet" : span(health.pollLagSecs), health.pollingBehind],
    deadLetters: [String(health.deadLetters), health.deadLetters > 0],
    batchesStalled: [String(health.batchesStalled), health.batchesStalled > 0],
  };
  for (const job of health.jobs) {
    const ran = job.lastRan === null ? "never" : span(Math.floor(Math.max(0, overview.now - job.lastRan) / 1000)) + " ago";
    items["job-" + job.job] = [ran, job.stopped];
  }
  for (const [key, [value, alarm]] of Object.entries(items)) {
    const item = document.querySelector(`[data-health="${key}"]`);
    if (!item) continue;
    item.className = alarm ? "alarm" : "ok";
    item.querySelector(".state").textContent = alarm ? "Alarm" : "OK";
    item.querySelector("[data-health-value]").textContent = value;
  }
}

async function refresh() {
  try {
    const response = await fetch("/portal/api/overview", { credentials: "same-origin" });
    if (!response.ok) return;
    const overview = await response.json();
    for (const [key, format] of Object.entries(FORMAT)) {
      const cell = document.querySelector(`[data-overview="${key}"]`);
      if (cell && overview[key] !== undefined) cell.textContent = format(overview[key]);
    }
    const producers = document.querySelector('[data-overview="producers"]');
    if (producers) producers.textContent = String(overview.producers.active);
    const consumers = document.querySelector('[data-overview="consumers"]');
    if (consumers) consumers.textContent = String(overview.consumers.active);
    showHealth(overview);
    const status = document.querySelector("[data-updated]");
    if (status) status.textContent = "Updated " + new Date(overview.now).toISOString().slice(11, 19) + " UTC";
  } catch (_) {
    // Offline or signed out: keep what is shown.
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) {
    Array.from(table.tHead.rows[0].cells).forEach((th, column) => {
      const button = th.querySelector("button");
      if (button) button.addEventListener("click", () => sortBy(table, column, th));
    });
  }
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const table = document.getElementById(input.dataset.filter);
    if (table) input.addEventListener("input", () => filter(table, input.value));
  }
  if (document.querySelector('[data-overview="paidIn"]')) setInterval(refresh, 30000);
});
