// The clinicians' page: every value from the API is written with textContent (never as HTML).
"use strict";
// (common.js: token, $, say, authorised, api)

let currentCase = null;

// A binary (or text) resource that needs the token: an <img> or a link cannot send it.
async function fetchBlob(path) {
  const response = await authorised(path);
  if (!response.ok) {
    let detail = null;
    try { detail = (await response.json()).detail; } catch (e) { detail = null; }
    throw new Error(detail || ("HTTP " + response.status));
  }
  return response.blob();
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
  let headline = JSON.stringify(p.prediction);
  if (typeof p.prediction === "string") { headline = p.prediction; }
  else if (typeof p.prediction === "number") {
    // a clinical model's headline: the first of its values (risk score, probability)
    headline = (Object.keys(p.record.values || {})[0] || "value") + " " + p.prediction.toPrecision(4);
  }
  title.textContent = p.model_name + ": " + headline;
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
  if (p.confidence !== null && p.confidence !== undefined) {
    const c = document.createElement("p");
    c.className = "confidence";
    c.textContent = "Confidence: " + (100 * p.confidence).toFixed(1) + " % that it is " + p.prediction + " (calibrated probability)";
    box.insertBefore(c, table);
  }
  const interval = p.record.interval;
  if (interval) {
    Object.keys(interval).forEach((key) => {
      const [low, high] = interval[key];
      if (low === null || high === null) { return; }
      const line = document.createElement("p");
      line.className = "interval";
      const level = p.record.interval_level ? (100 * p.record.interval_level).toFixed(0) + "% " : "";
      line.textContent = key + ": " + level + "interval " + low.toPrecision(4) + " to " + high.toPrecision(4);
      const v = (p.record.values || {})[key];
      if (typeof v === "number" && (v < low || v > high)) {
        // the clinical pillar's meaning: the full-data model's value outside its refits' range
        line.textContent += " (the model's own value lies outside: unstable under resampling)";
      }
      box.appendChild(line);
    });
  }
  if (p.survival_curve) { box.appendChild(survivalChart(p.survival_curve)); }
  (p.record.warnings || []).forEach((w) => {
    const warn = document.createElement("p");
    warn.className = "warning";
    warn.textContent = "Warning: " + w;
    box.appendChild(warn);
  });
  return box;
}

const SVG = "http://www.w3.org/2000/svg";

function svgElement(name, attributes, text) {
  const el = document.createElementNS(SVG, name);
  Object.keys(attributes).forEach((k) => el.setAttribute(k, String(attributes[k])));
  if (text !== undefined) { el.textContent = text; }
  return el;
}

// The survival curve S(t) as a step function, with its band where given, drawn as SVG from the
// JSON (no chart library: nothing may be fetched from elsewhere, and this is a few lines).
function survivalChart(curve) {
  const width = 480, height = 260, left = 48, right = 32, top = 18, bottom = 40;
  const tick = (v) => String(Number(v.toPrecision(3)));
  const times = curve.times;
  const tmax = times[times.length - 1] || 1;
  const x = (t) => left + (width - left - right) * t / tmax;
  const y = (s) => top + (height - top - bottom) * (1 - s);
  const svg = svgElement("svg", { class: "survival-curve", viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img" });
  svg.appendChild(svgElement("title", {}, "Predicted survival curve"));
  const steps = (values) => {
    let d = "M" + x(0).toFixed(1) + "," + y(1).toFixed(1);
    let last = 1;
    times.forEach((t, i) => {
      const v = values[i];
      if (v === null || v === undefined) { return; }
      d += " H" + x(t).toFixed(1) + " V" + y(v).toFixed(1);
      last = v;
    });
    return { d: d, last: last };
  };
  if (curve.low && curve.high) {
    const lo = steps(curve.low).d, hi = steps(curve.high).d;
    svg.appendChild(svgElement("path", { d: lo, class: "band" }));
    svg.appendChild(svgElement("path", { d: hi, class: "band" }));
  }
  svg.appendChild(svgElement("path", { d: steps(curve.survival).d, class: "curve" }));
  [0, 0.25, 0.5, 0.75, 1].forEach((s) => {
    svg.appendChild(svgElement("line", { x1: left, x2: width - right, y1: y(s), y2: y(s), class: "grid" }));
    svg.appendChild(svgElement("text", { x: left - 6, y: y(s) + 4, "text-anchor": "end" }, s.toFixed(2)));
  });
  [0, 0.25, 0.5, 0.75, 1].forEach((f) => {
    svg.appendChild(svgElement("text", { x: x(f * tmax), y: height - bottom + 16, "text-anchor": "middle" }, tick(f * tmax)));
  });
  svg.appendChild(svgElement("text", { x: (left + width) / 2, y: height - 6, "text-anchor": "middle" }, "time" + (curve.time_unit ? " (" + curve.time_unit + ")" : "")));
  svg.appendChild(svgElement("text", { x: left + 4, y: top - 6, "text-anchor": "start" }, "S(t)"));
  const figure = document.createElement("figure");
  figure.className = "survival";
  figure.appendChild(svg);
  const caption = document.createElement("figcaption");
  caption.textContent = "Predicted survival: probability of no event by each time" + (curve.band_level ? " (band: " + (100 * curve.band_level).toFixed(0) + "% interval)" : "") + ".";
  figure.appendChild(caption);
  return figure;
}

function figureOf(title, url, className) {
  const figure = document.createElement("figure");
  const img = document.createElement("img");
  img.className = className;
  img.alt = title;
  img.src = url;
  const caption = document.createElement("figcaption");
  caption.textContent = title;
  figure.append(img, caption);
  return figure;
}

let uploadUrl = null;

// The upload beside the model's own view of it: the Grad-CAM overlay of each classifier, the
// mask of each segmenter (fetched with the token, shown from blob: URLs).
async function showImages(c) {
  const box = $("images");
  box.replaceChildren();
  if (c.input_kind !== "image") { return; }
  if (uploadUrl) { box.appendChild(figureOf("Your upload", uploadUrl, "upload")); }
  for (const p of c.predictions) {
    const model = encodeURIComponent(p.model_name);
    let path = null, title = null, className = null;
    if (p.model_kind === "image-classifier") {
      path = "/cases/" + c.id + "/explanation?model=" + model;
      title = "Grad-CAM of " + p.model_name + ": where the network looked for " + p.prediction;
      className = "gradcam";
    } else if (p.model_kind === "image-segmenter") {
      path = "/cases/" + c.id + "/segmentation/mask?format=png&model=" + model;
      title = p.model_name + ": segmentation (slice with most foreground)";
      className = "mask";
    }
    if (!path) { continue; }
    try {
      const blob = await fetchBlob(path);
      box.appendChild(figureOf(title, URL.createObjectURL(blob), className));
    } catch (e) {
      const note = document.createElement("p");
      note.className = "warning";
      note.textContent = p.model_name + ": no image (" + e.message + ")";
      box.appendChild(note);
    }
  }
}

function showCase(c) {
  currentCase = c;
  $("case-id").textContent = String(c.id);
  const list = $("predictions");
  list.replaceChildren(...c.predictions.map(showPrediction));
  showImages(c);
  const first = c.predictions[0];
  $("label").value = first && typeof first.prediction === "string" ? first.prediction : "";
  $("result").hidden = false;
}

let reportUrl = null;

// The report: its sections in brief, the HTML itself in a sandboxed frame (no script runs in
// it) and a download link.
async function showReport(r) {
  $("report-id").textContent = String(r.case_id);
  const list = $("report-sections");
  list.replaceChildren(...r.report.sections.map((section) => {
    const item = document.createElement("li");
    const assessed = section.findings.length > 0;
    item.className = assessed ? "assessed" : "not-assessed";
    item.textContent = section.title + ": " + (assessed
      ? section.findings.map((f) => f.model + " (" + f.records.map((x) => x.prediction === null ? "n/a" : (typeof x.prediction === "number" ? x.prediction.toPrecision(4) : String(x.prediction))).join(", ") + ")").join("; ")
      : "not assessed");
    return item;
  }));
  const blob = await fetchBlob(r.html_url);
  const html = await blob.text();
  $("report-frame").srcdoc = html;
  if (reportUrl) { URL.revokeObjectURL(reportUrl); }
  reportUrl = URL.createObjectURL(new Blob([html], { type: "text/html" }));
  $("report-download").href = reportUrl;
  $("report-download").download = "report_case" + r.case_id + ".html";
  $("report").hidden = false;
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
      $("report-submit").hidden = false;
      say("Signed in as " + $("username").value + ".", "ok");
    } catch (e) { say("Sign-in failed: " + e.message, "error"); }
  });

  $("case-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    const file = $("case-file").files[0];
    data.append("file", file);
    if (uploadUrl) { URL.revokeObjectURL(uploadUrl); }
    // a browser shows PNG/JPEG itself; DICOM and NIfTI only through the model's overlay
    uploadUrl = /^image\/(png|jpeg)$/.test(file.type) ? URL.createObjectURL(file) : null;
    say("Analysing...", "");
    try {
      const c = await api("/cases", { method: "POST", body: data });
      showCase(c);
      say("Case " + c.id + " analysed.", "ok");
    } catch (e) { say("The case was refused: " + e.message, "error"); }
  });

  $("report-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("file", $("report-file").files[0]);
    say("Building the report...", "");
    try {
      const r = await api("/reports", { method: "POST", body: data });
      await showReport(r);
      say("Report " + r.case_id + " ready.", "ok");
    } catch (e) { say("The case file was refused: " + e.message, "error"); }
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
