// What the clinicians' and the admins' pages share: the token, and calls to the API with it.
// Every value from the API is written with textContent (never as HTML).
"use strict";

let token = null;

function $(id) { return document.getElementById(id); }

function say(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = kind || "";
}

async function authorised(path, options) {
  const opts = options || {};
  opts.headers = Object.assign({}, opts.headers || {});
  if (token) { opts.headers["Authorization"] = "Bearer " + token; }
  return fetch(path, opts);
}

// JSON from the API; an error answer becomes an Error with its detail.
async function api(path, options) {
  const response = await authorised(path, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) { detail = detail.map((d) => d.msg).join("; "); }
    throw new Error(detail || ("HTTP " + response.status));
  }
  return body;
}
