// The simplecloud dashboard: plain JavaScript, no build step, no library.
//
// The page holds no data of its own: after the user logs in with the API
// token (kept in this tab's sessionStorage), it polls GET /api/dashboard
// every 2 s and renders the snapshot. Buttons call the API's own endpoints
// with the same token. A 401 brings the login form back; any other failed
// call shows the API's JSON error message. Tables are updated row by row
// (keyed by name), so a replica count being typed survives the next poll.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "simplecloud.token";
const $ = (id) => document.getElementById(id);

let token = sessionStorage.getItem(TOKEN_KEY);
let timer = null;
let busy = false;
let again = false;

// ------------------------------------------------------------------ the API
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + token };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "cannot reach the manager (" + err.message + ")");
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : "HTTP " + response.status;
    throw new ApiError(response.status, message);
  }
  return data;
}

// ------------------------------------------------------------------ login
function showLogin(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearTimeout(timer);
  $("dashboard-view").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  $("status").textContent = "not logged in";
  $("token").focus();
}

function showDashboard() {
  $("login-view").hidden = true;
  $("dashboard-view").hidden = false;
  $("logout").hidden = false;
  $("login-error").textContent = "";
}

async function logIn(event) {
  event.preventDefault();
  const sent = $("token").value.trim();
  if (!sent) {
    $("login-error").textContent = "Enter the API token.";
    return;
  }
  token = sent;
  try {
    const snapshot = await api("GET", "/api/dashboard");
    sessionStorage.setItem(TOKEN_KEY, sent);
    $("token").value = "";
    showDashboard();
    render(snapshot);
    schedule();
  } catch (err) {
    if (err.status === 401) {
      showLogin("That token was not accepted by the manager. Copy it from .simplecloud/token and try again.");
    } else {
      token = null;
      $("login-error").textContent = "Cannot log in: " + err.message;
    }
  }
}

function sessionEnded() {
  showLogin("The manager no longer accepts your token (it may have changed). Log in again.");
}

// ------------------------------------------------------------------ polling
function schedule() {
  clearTimeout(timer);
  if (token) timer = setTimeout(refresh, POLL_MS);
}

async function refresh() {
  if (!token) return;
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  clearTimeout(timer);
  try {
    render(await api("GET", "/api/dashboard"));
  } catch (err) {
    if (err.status === 401) {
      busy = false;
      sessionEnded();
      return;
    }
    $("status").textContent = "not updated: " + err.message;
    $("status").classList.add("stale");
  }
  busy = false;
  if (again) {
    again = false;
    refresh();
  } else {
    schedule();
  }
}

// ------------------------------------------------------------------ actions
async function act(what, method, path, body) {
  $("action-error").textContent = "";
  $("action-message").textContent = what + " …";
  try {
    await api(method, path, body);
    $("action-message").textContent = what + ": done";
    return true;
  } catch (err) {
    if (err.status === 401) {
      sessionEnded();
      return false;
    }
    $("action-message").textContent = "";
    $("action-error").textContent = what + " failed: " + err.message;
    return false;
  } finally {
    refresh();
  }
}

async function scale(app, input) {
  const replicas = Number(input.value);
  if (input.value === "" || !Number.isInteger(replicas) || replicas < 0) {
    $("action-error").textContent = "Replicas of " + app + " must be a whole number, 0 or more.";
    return;
  }
  const ok = await act("Scale " + app + " to " + replicas, "PUT",
                       "/api/apps/" + encodeURIComponent(app) + "/scale", { replicas });
  if (ok) delete input.dataset.edited;
}

function askStop(app) {
  const dialog = $("confirm-stop");
  $("confirm-app").textContent = app;
  dialog.returnValue = "";
  dialog.onclose = () => {
    if (dialog.returnValue === "stop") act("Stop " + app, "DELETE", "/api/apps/" + encodeURIComponent(app));
  };
  dialog.showModal();
}

// A node's log (the last LOG_LINES lines) in a dialog; Refresh reads it again.
const LOG_LINES = 200;

async function showLog(pod, node) {
  const dialog = $("node-log");
  $("log-node").textContent = pod + "/" + node;
  $("log-lines").textContent = String(LOG_LINES);
  $("log-error").textContent = "";
  $("log-text").textContent = "reading …";
  const read = async () => {
    try {
      const answer = await api("GET", "/api/pods/" + encodeURIComponent(pod) + "/nodes/" +
                               encodeURIComponent(node) + "/logs?tail=" + LOG_LINES);
      $("log-text").textContent = answer.logs || "(the log is empty)";
      $("log-error").textContent = "";
    } catch (err) {
      if (err.status === 401) {
        dialog.close();
        sessionEnded();
        return;
      }
      $("log-text").textContent = "";
      $("log-error").textContent = "Cannot read the log: " + err.message;
    }
  };
  $("log-refresh").onclick = read;
  if (!dialog.open) dialog.showModal();
  await read();
}

// ------------------------------------------------------------------ rendering
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// Keep a tbody's rows in step with ``items``: one row per key, created once,
// updated in place, removed when its item is gone, in the items' order.
function sync(tbody, items, key, create, update) {
  const old = new Map([...tbody.rows].map((row) => [row.dataset.key, row]));
  items.forEach((item, index) => {
    const k = key(item);
    let row = old.get(k);
    old.delete(k);
    if (!row) {
      row = create(item);
      row.dataset.key = k;
    }
    update(row, item);
    if (tbody.rows[index] !== row) tbody.insertBefore(row, tbody.rows[index] || null);
  });
  for (const row of old.values()) row.remove();
}

function cell(row, col, value) {
  const td = row.querySelector(`[data-col="${col}"]`);
  if (td.textContent !== value) td.textContent = value;
}

function cells(cols) {
  return cols.map((col) => el("td", { "data-col": col }));
}

function number(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number(value).toFixed(digits);
}

function counts(map) {
  const parts = Object.entries(map || {}).map(([k, v]) => v + " " + k);
  return parts.length ? parts.join(", ") : "none";
}

function clock(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour12: false });
}

function render(s) {
  renderPods(s.pods);
  renderApps(s.apps, s.figures || {}, s.series || {});
  renderNodes(s.nodes);
  renderEvents(s.events);
  $("no-figures").hidden = s.controller;
  $("status").textContent = "updated " + clock(s.time) + " (every " + POLL_MS / 1000 + " s)";
  $("status").classList.remove("stale");
}

function renderPods(pods) {
  sync($("dashboard-view").querySelector("[data-testid=pods] tbody"), pods, (p) => p.name,
    (p) => {
      const pause = el("button", { type: "button", "aria-label": "Pause pod " + p.name, text: "Pause",
                                   onclick: () => act("Pause pod " + p.name, "POST",
                                                      "/api/pods/" + encodeURIComponent(p.name) + "/pause") });
      const resume = el("button", { type: "button", "aria-label": "Resume pod " + p.name, text: "Resume",
                                    onclick: () => act("Resume pod " + p.name, "POST",
                                                       "/api/pods/" + encodeURIComponent(p.name) + "/resume") });
      const row = el("tr", { "data-testid": "pod-" + p.name },
                     el("th", { scope: "row", "data-col": "name", text: p.name }),
                     ...cells(["host", "nodes", "size", "phases", "link"]), el("td", {}, pause, resume));
      return row;
    },
    (row, p) => {
      const hosts = p.hosts || [];
      const lent = p.lent || [];
      cell(row, "host", hosts.map((h) => lent.includes(h) ? h + " (lent)" : h).join(", "));
      cell(row, "nodes", p.used + " / " + (p.capacity != null ? p.capacity : p.max_nodes)
                         + (p.pending ? " (" + p.pending + " pending)" : ""));
      cell(row, "size", p.cpus + " CPU · " + p.memory_mb + " MiB");
      cell(row, "phases", counts(p.phases));
      const states = p.host_states || {};
      cell(row, "link", hosts.map((name) => {
        const h = states[name];
        const said = !h ? "not seen yet" : h.reachable
          ? "up" + (h.rtt_ms != null ? " (" + number(h.rtt_ms, 0) + " ms)" : "")
          : "unreachable: " + (h.error || "no answer");
        return hosts.length > 1 ? name + " " + said : said;
      }).join("; "));
    });
}

function route(app) {
  const parts = [];
  if (app.host) parts.push("host " + app.host);
  if (app.path) parts.push(app.path);
  return parts.join(" ") || "none";
}

// The warm pool: warm nodes started and healthy / the app's warm setting.
function warmText(app) {
  if (!app.warm && !app.warm_nodes) return "–";
  const starting = (app.warm_nodes || 0) - (app.warm_ready || 0);
  return (app.warm_ready || 0) + " / " + app.warm + (starting > 0 ? " (" + starting + " starting)" : "");
}

function autoscaleText(app) {
  const a = app.autoscale;
  if (!a) return "manual";
  return a.summary + (a.last ? " — last decision: " + a.last.reason : " — no decision yet");
}

function renderApps(apps, figures, series) {
  sync($("dashboard-view").querySelector("[data-testid=apps] tbody"), apps, (a) => a.name,
    (a) => {
      const id = "replicas-" + a.name;
      const input = el("input", { id, type: "number", min: "0", step: "1", inputmode: "numeric",
                                  oninput: () => { input.dataset.edited = "1"; } });
      const form = el("form", { class: "scale", onsubmit: (e) => { e.preventDefault(); scale(a.name, input); } },
                      el("label", { for: id, class: "visually-hidden", text: "Replicas of " + a.name }), input,
                      el("button", { type: "submit", "aria-label": "Scale " + a.name, text: "Scale" }));
      const stop = el("button", { type: "button", class: "danger", "aria-label": "Stop app " + a.name,
                                  text: "Stop", onclick: () => askStop(a.name) });
      return el("tr", { "data-testid": "app-" + a.name },
                el("th", { scope: "row", "data-col": "name", text: a.name }),
                ...cells(["pod", "route", "balance", "replicas", "serving", "warm", "autoscale", "rps", "p95", "cpu"]),
                el("td", {}, form, stop));
    },
    (row, a) => {
      cell(row, "pod", a.pod);
      cell(row, "route", route(a));
      cell(row, "balance", a.balance);
      cell(row, "replicas", String(a.replicas));
      cell(row, "serving", String(a.serving) + (a.updating ? " (" + a.updating + " updating)" : ""));
      cell(row, "warm", warmText(a));
      cell(row, "autoscale", autoscaleText(a));
      const figure = figures[a.name];
      cell(row, "cpu", figure && figure.cpu != null ? number(figure.cpu, 0) + " %" : "–");
      const input = row.querySelector("input");
      if (!input.dataset.edited && document.activeElement !== input) input.value = a.replicas;
      const points = series[a.name] || [];
      spark(row.querySelector('[data-col="rps"]'), points, "rps", "requests per second", " req/s", 1,
            "spark-rps-" + a.name);
      spark(row.querySelector('[data-col="p95"]'), points, "p95_ms", "latency p95", " ms", 0,
            "spark-p95-" + a.name);
    });
}

const SVG = "http://www.w3.org/2000/svg";
const W = 120;
const H = 28;

// An inline SVG sparkline of points[i][key] (null: a gap), with its latest
// and peak values in words (aria-label) and as data attributes.
function spark(td, points, key, what, unit, digits, testid) {
  const values = points.map((p) => p[key]);
  const known = values.filter((v) => v !== null && v !== undefined);
  const peak = known.length ? Math.max(...known) : null;
  const latest = known.length ? known[known.length - 1] : null;
  const top = peak && peak > 0 ? peak : 1;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("role", "img");
  svg.setAttribute("data-testid", testid);
  svg.setAttribute("data-peak", peak === null ? "" : String(peak));
  svg.setAttribute("data-latest", latest === null ? "" : String(latest));
  const label = known.length ? `${what}: now ${number(latest, digits)}${unit}, peak ${number(peak, digits)}${unit}`
    : `${what}: no figures yet`;
  svg.setAttribute("aria-label", label);
  const step = values.length > 1 ? W / (values.length - 1) : W;
  let run = [];
  const flush = () => {
    if (run.length === 1) run.push([run[0][0] + 1, run[0][1]]);
    if (run.length) {
      const line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", run.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" "));
      svg.append(line);
    }
    run = [];
  };
  values.forEach((v, i) => {
    if (v === null || v === undefined) flush();
    else run.push([i * step, H - 2 - (v / top) * (H - 4)]);
  });
  flush();
  const text = el("span", { class: "figure", text: known.length ? number(latest, digits) + unit : "–" });
  td.replaceChildren(svg, text);
}

function renderNodes(nodes) {
  sync($("dashboard-view").querySelector("[data-testid=nodes] tbody"), nodes, (n) => n.pod + "/" + n.name,
    (n) => el("tr", { "data-testid": "node-" + n.pod + "-" + n.name },
              el("th", { scope: "row", "data-col": "name", text: n.name }),
              ...cells(["pod", "app", "desired", "observed", "health", "restarts", "error"]),
              el("td", {}, el("button", { type: "button", "aria-label": "Log of node " + n.name,
                                          text: "Log", onclick: () => showLog(n.pod, n.name) }))),
    (row, n) => {
      const o = n.observed;
      cell(row, "pod", n.host ? n.pod + " on " + n.host : n.pod);
      cell(row, "app", n.app);
      cell(row, "desired", n.status);
      cell(row, "observed", o ? o.phase : "not seen yet");
      cell(row, "health", !o ? "–" : o.healthy === true ? "passing" : o.healthy === false ? "failing"
        : "no result yet");
      cell(row, "restarts", o ? String(o.restarts || 0) : "–");
      cell(row, "error", n.pending ? "waits for room: " + n.pending
                                   : (o && (o.last_error || o.host_error)) || "");
      row.className = o ? "phase-" + o.phase : "";
    });
}

function renderEvents(events) {
  const list = $("events");
  const items = events.map((e) => el("li", { "data-kind": e.kind, class: e.kind === "autoscale" ? "autoscale" : "" },
                                     el("time", { text: clock(e.time) }), " ",
                                     el("strong", { text: e.kind }), " ",
                                     el("span", { class: "subject", text: e.subject }), " ",
                                     el("span", { text: e.message })));
  list.replaceChildren(...items);
}

// ------------------------------------------------------------------ start
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", logIn);
  $("logout").addEventListener("click", () => showLogin("Logged out."));
  if (token) {
    showDashboard();
    refresh();
  } else {
    showLogin("");
  }
});
