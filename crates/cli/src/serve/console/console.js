// berth console: runs table, run page with steps, gates, artifacts and a live log tail.
// Plain JavaScript; talks to /api/v1 with the bearer token kept in this tab's sessionStorage.
"use strict";

const $ = (sel) => document.querySelector(sel);
const TOKEN_KEY = "berth.token";
const ENDED = ["succeeded", "failed", "cancelled"];
let timer = null;
let follow = null;

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ("HTTP " + status));
    this.status = status;
    this.kind = e.kind || "http";
  }
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers.Authorization = "Bearer " + token();
  if (opts.body !== undefined) opts.headers["Content-Type"] = "application/json";
  const res = await fetch("/api/v1" + path, opts);
  const body = await res.json().catch(() => null);
  if (res.status === 401) { signOut(body && body.error ? body.error.message : "sign in"); }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  const { dataset, ...rest } = props || {};
  Object.assign(e, rest);
  Object.assign(e.dataset, dataset || {});
  for (const c of children) e.append(c === null || c === undefined ? "" : c);
  return e;
}

function when(ms) { return ms ? new Date(ms).toLocaleString() : "-"; }

function badge(status) { return el("span", { className: "status " + status, textContent: status }); }

function show(view) {
  for (const v of ["login-view", "runs-view", "run-view"]) $("#" + v).hidden = v !== view;
}

function stopLive() {
  if (timer) { clearTimeout(timer); timer = null; }
  if (follow) { follow.abort(); follow = null; }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  stopLive();
  $("#who").textContent = "";
  $("#logout").hidden = true;
  $("#login-error").textContent = message || "";
  show("login-view");
}

async function signIn(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
  try {
    const me = await api("/whoami");
    $("#who").textContent = me.name + " (" + me.role + ")";
    $("#who").dataset.role = me.role;
    $("#logout").hidden = false;
    route();
  } catch (e) {
    signOut(e.message);
  }
}

// ---- runs table ----
let cursor = null;

async function loadRuns(append) {
  const q = new URLSearchParams({ limit: "50" });
  if ($("#status-filter").value) q.set("status", $("#status-filter").value);
  if ($("#tenant-filter").value.trim()) q.set("tenant", $("#tenant-filter").value.trim());
  if (append && cursor) q.set("cursor", cursor);
  const page = await api("/runs?" + q);
  const body = $("#runs tbody");
  if (!append) body.replaceChildren();
  for (const r of page.runs) {
    const link = el("a", { href: "#/runs/" + encodeURIComponent(r.id), textContent: r.id });
    body.append(el("tr", { className: "run", dataset: { run: r.id } },
      el("td", {}, link), el("td", {}, badge(r.status)), el("td", { textContent: r.plan || "?" }),
      el("td", { textContent: r.stepsDone + "/" + r.stepsTotal }),
      el("td", { textContent: r.tenantId || "-" }), el("td", { textContent: when(r.updatedAt) })));
  }
  cursor = page.nextCursor;
  $("#more").hidden = !cursor;
  $("#runs-empty").hidden = body.children.length > 0;
}

async function runsView() {
  show("runs-view");
  const tick = async () => {
    try { await loadRuns(false); } catch (e) {
      if (e.status !== 401) { $("#runs-empty").hidden = false; $("#runs-empty").textContent = e.message; }
    }
    timer = setTimeout(tick, 2000);
  };
  await tick();
}

// ---- run page ----
function gateBox(runId, g, canDecide) {
  const box = el("div", { className: "gate " + g.status, dataset: { gate: g.approvalId } });
  box.append(el("h3", {}, "Gate " + g.approvalId + " ", badge(g.status)));
  if (g.message) box.append(el("p", { textContent: g.message }));
  for (const d of g.decisions || []) {
    box.append(el("p", { className: "meta",
      textContent: d.actor + " " + (d.decision === "approve" ? "approved" : "rejected") + " at " + when(d.decidedAt) + (d.reason ? ": " + d.reason : "") }));
  }
  if (g.status === "pending" && canDecide) {
    const comment = el("input", { className: "comment", placeholder: "comment (required to reject)", size: 40 });
    const decide = async (verb) => {
      try {
        await api("/runs/" + encodeURIComponent(runId) + "/approvals/" + encodeURIComponent(g.approvalId) + "/" + verb,
          { method: "POST", body: JSON.stringify({ comment: comment.value }) });
        await refreshRun(runId);
      } catch (e) { $("#run-error").textContent = e.message; }
    };
    box.append(comment,
      el("button", { className: "approve", textContent: "Approve", onclick: () => decide("approve") }),
      el("button", { className: "reject", textContent: "Reject", onclick: () => decide("reject") }));
  }
  return box;
}

async function download(runId, name) {
  const res = await fetch("/api/v1/runs/" + encodeURIComponent(runId) + "/artifacts/" + encodeURIComponent(name),
    { headers: { Authorization: "Bearer " + token() } });
  if (!res.ok) { $("#run-error").textContent = "download failed: HTTP " + res.status; return; }
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: name });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function refreshRun(runId) {
  const d = await api("/runs/" + encodeURIComponent(runId));
  const run = d.run;
  $("#run-id").textContent = run.id;
  const st = $("#run-status");
  st.textContent = run.status;
  st.className = "status " + run.status;
  $("#run-meta").textContent = "plan " + (run.plan && run.plan.name) + " · " + run.planHash.slice(0, 19) +
    " · tenant " + (run.tenantId || "-") + " · updated " + when(run.updatedAt) +
    (d.runner ? " · runner " + d.runner.owner : "");
  const canDecide = ["approver", "admin"].includes($("#who").dataset.role);
  $("#gates").replaceChildren(...d.approvals.map((g) => gateBox(run.id, g, canDecide)));
  $("#steps tbody").replaceChildren(...run.steps.map((s) => el("tr", { dataset: { step: s.stepId } },
    el("td", { textContent: s.stepId }), el("td", {}, badge(s.status)),
    el("td", { textContent: String(s.attempts) }), el("td", { textContent: s.lastError || "" }))));
  $("#artifacts").replaceChildren(...d.artifacts.map((a) => {
    const li = el("li", {});
    if (a.status === "copied") {
      li.append(el("a", { href: "#", textContent: a.name, onclick: (ev) => { ev.preventDefault(); download(run.id, a.name); } }));
    } else {
      li.append(a.name);
    }
    li.append(" ", el("span", { className: "meta", textContent: a.status + (a.notes ? " · " + a.notes : "") }));
    return li;
  }));
  if (!d.artifacts.length) $("#artifacts").append(el("li", { className: "meta", textContent: "none" }));
  const ended = ENDED.includes(run.status);
  $("#resume").hidden = !canDecide || ended || run.status === "paused" && d.approvals.some((g) => g.status === "pending") || !!d.runner;
  $("#cancel").hidden = !canDecide || ended || !!d.runner;
  return run;
}

function appendLog(e) {
  const line = e.sequence + "  " + new Date(e.timestamp).toLocaleTimeString() + "  " + e.level.padEnd(5) +
    "  " + e.eventType.padEnd(18) + " " + (e.stepId || "-") + "  " + e.message + "\n";
  const log = $("#log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(line);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// Server-Sent Events read with fetch, so the token goes in a header (EventSource cannot).
async function followLog(runId) {
  const ctl = new AbortController();
  follow = ctl;
  let after = null;
  $("#log").textContent = "";
  while (!ctl.signal.aborted) {
    $("#log-state").textContent = "live";
    const q = after === null ? "" : "?after=" + after;
    let ended = false;
    try {
      const res = await fetch("/api/v1/runs/" + encodeURIComponent(runId) + "/logs/stream" + q,
        { headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" }, signal: ctl.signal });
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i); buf = buf.slice(i + 2);
          let event = "message", data = "";
          for (const l of block.split("\n")) {
            if (l.startsWith("event:")) event = l.slice(6).trim();
            else if (l.startsWith("data:")) data += l.slice(5).trim();
          }
          if (event === "log") { const e = JSON.parse(data); after = e.sequence; appendLog(e); }
          else if (event === "end") { ended = true; }
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      $("#log-state").textContent = "reconnecting: " + e.message;
    }
    if (ended) { $("#log-state").textContent = "ended"; return; }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function runView(runId) {
  show("run-view");
  $("#run-error").textContent = "";
  $("#resume").onclick = async () => {
    try { await api("/runs/" + encodeURIComponent(runId) + "/resume", { method: "POST", body: "{}" }); await refreshRun(runId); }
    catch (e) { $("#run-error").textContent = e.message; }
  };
  $("#cancel").onclick = async () => {
    if (!confirm("Cancel run " + runId + "?")) return;
    try { await api("/runs/" + encodeURIComponent(runId) + "/cancel", { method: "POST", body: "{}" }); await refreshRun(runId); }
    catch (e) { $("#run-error").textContent = e.message; }
  };
  followLog(runId);
  const tick = async () => {
    let run = null;
    try { run = await refreshRun(runId); } catch (e) { if (e.status !== 401) $("#run-error").textContent = e.message; }
    if (!run || !ENDED.includes(run.status)) timer = setTimeout(tick, 1000);
  };
  await tick();
}

function route() {
  stopLive();
  if (!token()) { signOut(); return; }
  const m = location.hash.match(/^#\/runs\/(.+)$/);
  if (m) runView(decodeURIComponent(m[1])); else runsView();
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("#token").value); });
  $("#logout").addEventListener("click", () => signOut());
  $("#status-filter").addEventListener("change", () => loadRuns(false));
  $("#tenant-filter").addEventListener("change", () => loadRuns(false));
  $("#more").addEventListener("click", () => loadRuns(true));
  window.addEventListener("hashchange", route);
  if (token()) signIn(token()); else signOut();
});
