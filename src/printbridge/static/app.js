// PrintBridge page behaviour: drag and drop uploads, live job status. No inline scripts (strict CSP).
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

function setupDropzone() {
  const zone = document.getElementById("dropzone");
  const input = document.getElementById("files");
  if (!zone || !input) return;
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    input.files = event.dataTransfer.files;
    document.getElementById("upload-form").submit();
  });
}

function setupAutosubmit() {
  document.querySelectorAll("select.autosubmit").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });
}

function actionForm(jobId, action, label) {
  const form = document.createElement("form");
  form.method = "post";
  form.action = `/jobs/${jobId}/${action}`;
  form.className = "inline";
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrf_token";
  token.value = csrfToken();
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "small";
  button.textContent = label;
  button.setAttribute("aria-label", `${label} job ${jobId}`);
  form.append(token, button);
  return form;
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.job = job.id;
  row.dataset.state = job.state;
  row.dataset.title = job.title;
  for (const value of [job.id, job.title, job.printer, job.state]) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  const actions = document.createElement("td");
  actions.append(job.state === "held" ? actionForm(job.id, "release", "Release") : actionForm(job.id, "hold", "Hold"));
  actions.append(actionForm(job.id, "cancel", "Cancel"));
  row.append(actions);
  return row;
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(response.status);
  return response.json();
}

const FINAL_WORDS = { completed: "has printed", cancelled: "was cancelled", aborted: "failed", stopped: "stopped" };

async function refreshJobs(table, announcer) {
  const body = table.querySelector("tbody");
  const known = new Map([...body.querySelectorAll("tr[data-job]")].map((row) => [row.dataset.job, row.dataset]));
  const jobs = await getJSON("/api/v1/jobs?which=not-completed");
  const current = new Set(jobs.map((job) => String(job.id)));
  const gone = [...known.keys()].filter((id) => !current.has(id));
  if (gone.length) {
    const finished = await getJSON("/api/v1/jobs?which=completed");
    const messages = gone.map((id) => {
      const job = finished.find((item) => String(item.id) === id);
      const title = known.get(id).title;
      return `Job ${id} (${title}) ${job ? FINAL_WORDS[job.state] || job.state : "is finished"}.`;
    });
    announcer.textContent = messages.join(" ");
  }
  body.replaceChildren(...jobs.map(jobRow));
  if (!jobs.length) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 5;
    cell.textContent = "No jobs waiting.";
    row.append(cell);
    body.append(row);
  }
}

async function refreshPrinters(container) {
  const printers = await getJSON("/api/v1/printers");
  for (const printer of printers) {
    const box = container.querySelector(`[data-printer="${CSS.escape(printer.name)}"]`);
    if (!box) continue;
    box.className = `printer state-${printer.state}`;
    box.querySelector(".printer-message").textContent = printer.message;
  }
}

function setupLiveJobs() {
  const table = document.querySelector('table[data-live="jobs"]');
  if (!table) return;
  const announcer = document.getElementById("announcer");
  const printers = document.getElementById("printers");
  const tick = () => Promise.all([refreshJobs(table, announcer), refreshPrinters(printers)]).catch(() => {});
  setInterval(tick, 4000);
}

function setupTimestamps() {
  document.querySelectorAll("time.timestamp").forEach((node) => {
    node.textContent = new Date(Number(node.getAttribute("datetime")) * 1000).toLocaleString();
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupDropzone();
  setupAutosubmit();
  setupLiveJobs();
  setupTimestamps();
});
