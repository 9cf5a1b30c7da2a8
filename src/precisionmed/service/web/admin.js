// The admins' page: every value from the API is written with textContent (never as HTML).
"use strict";
// (common.js: token, $, say, authorised, api)

let usernames = {};

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) { node.textContent = String(text); }
  if (className) { node.className = className; }
  return node;
}

function cell(row, text, className) {
  const td = el("td", text, className);
  row.appendChild(td);
  return td;
}

function headRow(table, names) {
  const row = table.createTHead().insertRow();
  names.forEach((n) => row.appendChild(el("th", n)));
}

function num(v, digits) {
  if (v === null || v === undefined) { return "n/a"; }
  if (typeof v !== "number") { return String(v); }
  return Number.isInteger(v) ? String(v) : v.toFixed(digits === undefined ? 3 : digits);
}

function pct(v) { return v === null || v === undefined ? "n/a" : (100 * v).toFixed(1) + " %"; }

function signed(v) { return (v >= 0 ? "+" : "") + v.toFixed(3); }

function short(hex) { return hex ? String(hex).slice(0, 12) : "n/a"; }

// ---- feedback review ------------------------------------------------------------------------

function recordTable(record) {
  const table = el("table", null, "record");
  Object.keys(record || {}).forEach((key) => {
    const row = table.insertRow();
    row.appendChild(el("th", key));
    cell(row, record[key] === null ? "n/a" : record[key]);
  });
  return table;
}

function thumbnail(f) {
  if (!f.input.thumbnail) { return el("span", "no image", "warning"); }
  const img = el("img", null, "thumbnail");
  img.alt = "case " + f.input.case_id;
  img.src = f.input.thumbnail;  // a data: URL of a PNG made by the service
  return img;
}

async function review(id, accepted) {
  try {
    await api("/feedback/" + id + "/review", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ accepted: accepted }),
    });
    say("Feedback " + id + (accepted ? " accepted." : " rejected."), "ok");
    const row = $("feedback-" + id);  // shown as reviewed at once
    if ($("feedback-status").value === "pending") { row.remove(); } else { row.cells[row.cells.length - 1].textContent = accepted ? "accepted" : "rejected"; }
    // a read of the list that started before this review was saved must not put the row back:
    // it is superseded by a new read (only the newest read is shown)
    if (feedbackLoading) { await loadFeedback(); }
  } catch (e) { say("Review refused: " + e.message, "error"); }
}

let feedbackReads = 0;  // the newest read of the list wins
let feedbackLoading = false;

async function loadFeedback() {
  const read = ++feedbackReads;
  feedbackLoading = true;
  let rows;
  try {
    rows = await api("/admin/feedback?status=" + $("feedback-status").value);
  } finally {
    if (read === feedbackReads) { feedbackLoading = false; }
  }
  if (read !== feedbackReads) { return; }  // a newer read is on its way
  const body = $("feedback-table").tBodies[0];
  body.replaceChildren();
  $("feedback-empty").hidden = rows.length > 0;
  rows.forEach((f) => {
    const row = body.insertRow();
    row.id = "feedback-" + f.id;
    row.dataset.user = f.username;
    cell(row, f.id);
    const input = cell(row, "", "input");
    input.appendChild(f.input.input_kind === "image" ? thumbnail(f) : recordTable(f.input.record));
    const said = f.input.prediction;
    const shown = typeof said === "number" ? said.toPrecision(3) : (typeof said === "string" ? said : JSON.stringify(said));
    cell(row, (f.input.model_name || "") + ": " + shown);
    cell(row, f.username, "user");
    cell(row, f.verdict, "verdict");
    cell(row, f.label, "label");
    cell(row, f.comment);
    const actions = cell(row, "");
    if (f.accepted === null) {
      const accept = el("button", "Accept", "accept");
      accept.type = "button";
      accept.addEventListener("click", () => review(f.id, true));
      const reject = el("button", "Reject", "reject");
      reject.type = "button";
      reject.addEventListener("click", () => review(f.id, false));
      actions.append(accept, reject);
    } else { actions.textContent = f.accepted ? "accepted" : "rejected"; }
  });
}

// ---- models, versions and the gate ------------------------------------------------------------

function testMetrics(metrics) {
  const test = (metrics && metrics.test) || {};
  return Object.keys(test).filter((k) => {
    const v = test[k];
    return typeof v === "number" || (v && typeof v === "object" && typeof v.value === "number");
  }).slice(0, 5).map((k) => {
    const v = test[k];
    if (typeof v === "number") { return k + " " + num(v); }
    const ci = typeof v.low === "number" ? " [" + num(v.low) + ", " + num(v.high) + "]" : "";
    return k + " " + num(v.value) + ci;
  }).join("; ");
}

async function stageChange(name, version, action) {
  try {
    const row = await api("/models/" + encodeURIComponent(name) + "/versions/" + version + "/" + action, { method: "POST" });
    say(name + " version " + short(row.version) + " is now " + row.stage + ".", "ok");
  } catch (e) { say("The " + action + " was refused: " + e.message, "error"); }
  await loadModels();
}

function versionTable(name, versions) {
  const table = el("table", null, "versions");
  headRow(table, ["Version", "Stage", "Source", "Dataset", "Data checksum", "Files", "Test metrics", "Registered", ""]);
  const body = table.createTBody();
  versions.forEach((v) => {
    const row = body.insertRow();
    row.id = "version-" + v.version.slice(0, 12);
    row.appendChild(el("td")).appendChild(el("code", short(v.version)));
    cell(row, v.stage, "stage stage-" + v.stage);
    cell(row, v.source || "");
    const checks = v.data_checksums || {};
    cell(row, checks.dataset || "n/a");
    row.appendChild(el("td")).appendChild(el("code", short(checks.data)));
    cell(row, Object.keys(checks.manifest || {}).length + " (sha256 each)");
    cell(row, testMetrics(v.metrics));
    cell(row, new Date(v.registered_at).toISOString().slice(0, 16).replace("T", " "));
    const actions = cell(row, "");
    if (v.stage !== "production") {
      const promote = el("button", "Promote", "promote");
      promote.type = "button";
      promote.addEventListener("click", () => stageChange(name, v.version, "promote"));
      actions.appendChild(promote);
    }
    if (v.stage !== "archived") {
      const archive = el("button", "Archive", "archive");
      archive.type = "button";
      archive.addEventListener("click", () => stageChange(name, v.version, "archive"));
      actions.appendChild(archive);
    }
  });
  return table;
}

function figureRow(table, label, className, candidate, production) {
  const row = table.tBodies[0].insertRow();
  row.className = className;
  row.appendChild(el("th", label));
  cell(row, candidate, "candidate");
  cell(row, production, "production");
  return row;
}

function who(id) { return usernames[id] ? usernames[id] + " (#" + id + ")" : "#" + id; }

function gateReport(v) {
  const e = v.evaluation;
  const gate = e.gate;
  const box = el("div", null, "gate");
  box.id = "gate-" + v.name;
  const title = el("h4");
  title.append("Last retrain: version ", el("code", short(v.version)), " (" + v.stage + "), gate ");
  title.appendChild(el("span", gate.passed ? "PASSED" : "REFUSED", gate.passed ? "decision gate-passed" : "decision gate-refused"));
  box.appendChild(title);
  if (gate.reasons && gate.reasons.length) {
    const list = el("ul", null, "reasons");
    gate.reasons.forEach((r) => list.appendChild(el("li", r)));
    box.appendChild(list);
  }
  const test = e.locked_test_accuracy;
  const hold = e.holdout_accuracy;
  const diff = test.difference;
  const table = el("table", null, "figures");
  headRow(table, ["", "Candidate " + short(v.version), "Production " + short(e.production_version)]);
  table.createTBody();
  figureRow(table, "Locked test accuracy (n " + e.locked_test.n + ")", "locked-test", pct(test.candidate), pct(test.production));
  const paired = figureRow(table, "Paired difference, 95% bootstrap CI", "difference", "", "");
  paired.cells[1].colSpan = 2;
  paired.cells[1].textContent = signed(diff.value) + " [" + signed(diff.low) + ", " + signed(diff.high) + "] (" + diff.n_boot + " resamples; margin " + gate.margin + ")";
  paired.deleteCell(2);
  figureRow(table, "Feedback hold-out accuracy (n " + hold.n + ")", "holdout", pct(hold.candidate), pct(hold.production));
  box.appendChild(table);
  const locked = e.locked_test;
  const lockedLine = el("p", null, "locked");
  lockedLine.append("Locked test set: " + locked.dataset + " " + locked.split + ", " + locked.n + " cases, sha256 ", el("code", short(locked.sha256)));
  box.appendChild(lockedLine);
  const fb = e.feedback;
  const dropped = Object.keys(fb.dropped_by_cap || {});
  const capLine = el("p", null, "cap");
  capLine.textContent = "Feedback: " + fb.accepted + " accepted and usable, cap " + pct(fb.cap_per_user) + " per user; dropped by the cap: " +
    (dropped.length ? dropped.map((u) => who(u) + " " + fb.dropped_by_cap[u]).join(", ") : "none") +
    "; trained on " + fb.train_ids.length + ", held out " + fb.holdout_ids.length + ".";
  box.appendChild(capLine);
  const shares = fb.share_by_user_after_cap || {};
  box.appendChild(el("p", "Shares after the cap: " + Object.keys(shares).map((u) => who(u) + " " + pct(shares[u])).join(", "), "shares"));
  return box;
}

async function loadModels() {
  const versions = await api("/models/versions");
  const byName = {};
  versions.forEach((v) => { (byName[v.name] = byName[v.name] || []).push(v); });
  const list = $("model-list");
  list.replaceChildren();
  Object.keys(byName).sort().forEach((name) => {
    const box = el("div", null, "model");
    box.id = "model-" + name;
    const rows = byName[name];
    box.appendChild(el("h3", name + " (" + rows[0].kind + ")"));
    box.appendChild(versionTable(name, rows));
    const retrained = rows.filter((v) => v.evaluation && v.evaluation.gate);
    if (retrained.length) { box.appendChild(gateReport(retrained[retrained.length - 1])); } else { box.appendChild(el("p", "Never retrained.", "note")); }
    list.appendChild(box);
  });
}

// ---- drift ------------------------------------------------------------------------------------

async function loadDrift() {
  const rows = await api("/admin/drift");
  const body = $("drift-table").tBodies[0];
  body.replaceChildren();
  $("drift-empty").hidden = rows.length > 0;
  rows.forEach((d) => {
    const row = body.insertRow();
    row.id = "drift-" + d.model + "-" + d.feature.replace(/[^A-Za-z0-9_-]/g, "_");
    cell(row, d.model);
    row.appendChild(el("td")).appendChild(el("code", d.version));
    cell(row, d.feature);
    cell(row, d.reference.source + (d.reference.n ? " (" + d.reference.n + ")" : ""));
    cell(row, num(d.reference.mean, 4) + " \u00b1 " + num(d.reference.std, 4));
    cell(row, d.recent.n, "recent-n");
    cell(row, num(d.recent.mean, 4));
    cell(row, d.z === null ? "n/a" : d.z.toFixed(2), d.z !== null && Math.abs(d.z) > 3 ? "z drifted" : "z");
  });
}

async function loadAll() {
  try {
    const users = await api("/users");
    usernames = {};
    users.forEach((u) => { usernames[String(u.id)] = u.username; });
    await Promise.all([loadFeedback(), loadModels(), loadDrift()]);
  } catch (e) { say("Could not load: " + e.message, "error"); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new URLSearchParams({ username: $("username").value, password: $("password").value });
    try {
      const body = await api("/auth/token", { method: "POST", body: form });
      token = body.access_token;
      await api("/admin/drift");  // refused (403) unless an admin
      $("password").value = "";
      $("signin").hidden = true;
      $("console").hidden = false;
      say("Signed in as " + $("username").value + ".", "ok");
      await loadAll();
    } catch (e) { token = null; say("Sign-in failed: " + e.message, "error"); }
  });
  $("refresh").addEventListener("click", loadAll);
  $("feedback-status").addEventListener("change", () => loadFeedback().catch((e) => say(e.message, "error")));
});
