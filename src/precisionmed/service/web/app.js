// The clinicians' page: every value from the API is written with textContent (never as HTML).
"use strict";

let token = null;
let currentCase = null;

function $(id) { return document.getElementById(id); }

function say(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = kind || "";
}

async function api(path, options) {
  const opts = options || {};
  opts.headers = Object.assign({}, opts.headers || {});
  if (token) { opts.headers["Authorization"] = "Bearer " + token; }
  const response = await fetch(path, opts);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) { detail = detail.map((d) => d.msg).join("; "); }
    throw new Error(detail || ("HTTP " + response.status));
  }
  return body;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function showPrediction(p) {
  const box = document.createElement("div");
  box.className = "prediction";
  const title = document.createElement("h3");
  title.textContent = p.model_name + ": " + (typeof p.prediction === "string" ? p.prediction : JSON.stringify(p.prediction));
  box.appendChild(title);
  const values = p.record.values || {};
  const table = document.createElement("table");
  const head = table.insertRow();
  ["", "value"].forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
  const probabilities = p.model_kind === "image-classifier";
  Object.keys(values).forEach((key) => {
    const row = table.insertRow();
    row.className = "value";
    cell(row, key);
    const v = values[key];
    const td = cell(row, v === null ? "n/a" : (probabilities ? (100 * v).toFixed(1) + " %" : v.toPrecision(4)));
    if (probabilities && v !== null) {
      const bar = document.createElement("span");
      bar.className = "bar";
      const fill = document.createElement("span");
      fill.style.width = (100 * v).toFixed(1) + "%";
      bar.appendChild(fill);
      td.appendChild(document.createTextNode(" "));
      td.appendChild(bar);
    }
  });
  box.appendChild(table);
  const cal = p.record.calibration;
  if (cal) {
    const c = document.createElement("p");
    c.className = "calibration";
    c.textContent = "Calibration: " + (cal.method || "") + (cal.temperature ? " (temperature " + cal.temperature + ")" : "");
    box.appendChild(c);
  }
  (p.record.warnings || []).forEach((w) => {
    const warn = document.createElement("p");
    warn.className = "warning";
    warn.textContent = "Warning: " + w;
    box.appendChild(warn);
  });
  return box;
}

function showCase(c) {
  currentCase = c;
  $("case-id").textContent = String(c.id);
  const list = $("predictions");
  list.replaceChildren(...c.predictions.map(showPrediction));
  const first = c.predictions[0];
  $("label").value = first && typeof first.prediction === "string" ? first.prediction : "";
  $("result").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new URLSearchParams({ username: $("username").value, password: $("password").value });
    try {
      const body = await api("/auth/token", { method: "POST", body: form });
      token = body.access_token;
      $("password").value = "";
      $("signin").hidden = true;
      $("submit").hidden = false;
      say("Signed in as " + $("username").value + ".", "ok");
    } catch (e) { say("Sign-in failed: " + e.message, "error"); }
  });

  $("case-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", $("case-file").files[0]);
    say("Analysing...", "");
    try {
      const c = await api("/cases", { method: "POST", body: data });
      showCase(c);
      say("Case " + c.id + " analysed.", "ok");
    } catch (e) { say("The case was refused: " + e.message, "error"); }
  });

  $("feedback-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { verdict: $("verdict").value, label: $("label").value, comment: $("comment").value };
    try {
      await api("/cases/" + currentCase.id + "/feedback", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      say("Feedback saved for case " + currentCase.id + ". Thank you.", "ok");
    } catch (e) { say("Feedback refused: " + e.message, "error"); }
  });
});
