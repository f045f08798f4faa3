"use strict";
// rtds dashboard: polls the JSON API and redraws the cards. Data from the API
// only ever enters the page through textContent or element attributes.

const DASH = "—";
const SVGNS = "http://www.w3.org/2000/svg";
const UNREACHABLE = "dashboard server unreachable, retrying";
// Throughput series: key in flow.series/totals, legend label, colour, tile id prefix.
const SERIES = [
  ["fetched", "fetched", "#8b5cf6", "fetched"],
  ["produced", "produced", "#0ea5e9", "produced"],
  ["consumed", "consumed", "#f59e0b", "consumed"],
  ["written", "written", "#10b981", "written"],
  ["deleted", "deleted", "#64748b", "deleted"],
  ["dead_lettered", "dead-lettered", "#ef4444", "dlq"],
];
const PALETTE = ["#6366f1", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#64748b"];
const GENDER_COLOURS = { female: "#ec4899", male: "#3b82f6" };

const $ = (id) => document.getElementById(id);
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const list = (v) => (Array.isArray(v) ? v.filter((x) => x !== null && x !== undefined) : []);
function text(v) {
  if (v === null || v === undefined || v === "") return DASH;
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

// ---------- building elements ----------

function el(tag, cls, ...kids) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  node.append(...kids); // strings become text nodes, so this is safe for data
  return node;
}

function svg(tag, attrs = {}, ...kids) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...kids);
  return node;
}

const empty = (msg) => el("p", "empty", msg);

// ---------- formatting ----------

const nf = new Intl.NumberFormat("en-US");
const num = (v) => (isNum(v) ? nf.format(Math.round(v)) : DASH);
// Small rates and latencies keep one decimal, big ones get separators.
const dec = (v) => (Math.abs(v) < 10 && !Number.isInteger(v) ? v.toFixed(1) : nf.format(Math.round(v)));
const ms = (v) => (isNum(v) ? `${dec(v)} ms` : DASH);
const pad = (n) => String(n).padStart(2, "0");

function clock(date, seconds = true) {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) return DASH;
  const hm = `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return seconds ? `${hm}:${pad(date.getSeconds())}` : hm;
}

const isoClock = (iso) => (typeof iso === "string" ? clock(new Date(iso)) : DASH);

function ago(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return DASH;
  const s = Math.max(0, Math.round((Date.now() - t) / 1000)); // clock skew: never "in the future"
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

function lastNum(values) {
  const found = list(values).filter(isNum);
  return found.length ? found[found.length - 1] : null;
}

function sampleCaption(d, whole, part) {
  if (d?.unavailable) return `no sample of the table: ${d.unavailable}`;
  if (!isNum(d?.sample)) return "";
  return (d.whole_table ? whole : part).replace("N", num(d.sample));
}

// ---------- polling ----------

const failures = new Map(); // url -> banner message, while that endpoint fails

async function load(url, timeoutMs) {
  let res;
  try {
    res = await fetch(url, { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    throw new Error(UNREACHABLE); // refused, reset or timed out
  }
  const path = url.split("?")[0];
  if (!res.ok) throw new Error(`dashboard server answered ${res.status} for ${path}, retrying`);
  try {
    return await res.json();
  } catch {
    throw new Error(`${path} did not answer JSON, retrying`);
  }
}

function poll(url, periodMs, render) {
  let busy = false;
  const tick = async () => {
    if (busy) return; // the previous request is still running: skip this tick
    busy = true;
    let drawing = false;
    try {
      const data = await load(url, Math.max(periodMs, 5000));
      // the server answered, so no endpoint is "unreachable" any more
      for (const [other, msg] of failures) if (msg === UNREACHABLE) failures.delete(other);
      drawing = true;
      render(data);
      failures.delete(url);
    } catch (err) {
      // a drawing bug must not pass for a network fault
      failures.set(url, drawing ? `cannot draw ${url.split("?")[0]}: ${err.message}` : err.message);
    } finally {
      busy = false;
      showBanner();
    }
  };
  tick();
  setInterval(tick, periodMs);
}

function showBanner() {
  const banner = $("banner");
  banner.hidden = failures.size === 0;
  banner.textContent = [...new Set(failures.values())].join(" · ");
  document.body.classList.toggle("stale", failures.size > 0);
}

// ---------- status ----------

function renderStatus(s) {
  const verdict = $("verdict");
  verdict.textContent = text(s?.verdict);
  verdict.dataset.healthy = String(s?.healthy === true);
  $("checked").textContent = s?.checked_at ? `checked ${isoClock(s.checked_at)}` : "";
  $("topic-name").textContent = text(s?.pipeline?.topic);
  $("table-name").textContent = text(s?.pipeline?.table);
  const hops = list(s?.hops);
  $("hops").replaceChildren(...(hops.length ? hops.map(hopCard) : [empty("no hops reported")]));
}

function hopCard(h) {
  const name = text(h.name);
  const card = el("div", "hop",
    el("div", "hop-head", el("span", "dot"), el("span", "hop-name", name)),
    el("p", "hop-summary", text(h.summary)));
  card.dataset.state = ["ok", "warn", "fail"].includes(h.state) ? h.state : "warn";
  card.dataset.hop = name;
  const members = list(h.members);
  if (members.length) card.append(el("ul", "members", ...members.map(memberMark)));
  if (h.advice) card.append(el("p", "hop-advice", text(h.advice)));
  const rows = list(h.details?.rows?.newest_rows);
  if (h.name === "mapping" && rows.length) card.append(newestRows(rows));
  return card;
}

// A mapping's newest rows as a plain table: its columns, newest row first.
function newestRows(rows) {
  const columns = Object.keys(rows[0] ?? {});
  const head = el("tr", "", ...columns.map((c) => el("th", "", text(c))));
  const body = rows.map((row) => el("tr", "", ...columns.map((c) => el("td", "", text(row?.[c])))));
  return el("div", "table-box", el("table", "rows-table", el("thead", "", head), el("tbody", "", ...body)));
}

// One broker or node of the hop: green when up, red when down.
function memberMark(m) {
  const mark = el("li", "member", text(m.name));
  mark.dataset.up = String(m.up === true);
  mark.title = m.up === true ? "up" : "down";
  return mark;
}

// ---------- flow ----------

function renderFlow(f) {
  const series = f?.series ?? {};
  for (const [key, , , tile] of SERIES) {
    $(`${tile}-total`).textContent = num(f?.totals?.[key]);
    const now = lastNum(series[key]);
    $(`${tile}-rate`).textContent = isNum(now) ? `${dec(now)} /s now` : "";
  }
  const windowS = isNum(f?.window_s) && f.window_s > 0 ? f.window_s : 900;
  const box = $("throughput");
  // drawn at the box's real width, so axis labels keep their size on any screen
  const width = Math.min(1400, Math.max(320, box.clientWidth || 800));
  box.replaceChildren(lineChart(series, windowS, width), legend(series));
  renderLag(list(f?.lag));
  renderLatency("freshness", f?.freshness);
  renderLatency("write-latency", f?.write_latency);
  renderLatency("api-latency", f?.api_latency);
  renderErrors(list(f?.errors), f?.retries);
  $("updated").textContent = `updated ${clock(new Date())}`;
}

// y axis step of 1, 2 or 5 times a power of ten, so tick labels stay round.
function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function lineChart(series, windowS, W) {
  const H = 250, L = 52, R = 24, T = 10, B = 26;
  const times = list(series.t).filter(isNum);
  const end = times.length ? Math.max(...times) : Date.now() / 1000;
  const start = end - windowS;
  let max = 0;
  for (const [key] of SERIES) for (const v of list(series[key])) if (isNum(v)) max = Math.max(max, v);
  const step = niceStep(max / 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const x = (ts) => L + ((ts - start) / windowS) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);

  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "throughput, records per second" });
  for (let i = 0; i * step <= top; i++) {
    const v = i * step;
    root.append(
      svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid-line" }),
      svg("text", { x: L - 8, y: y(v), class: "tick", "text-anchor": "end", "dominant-baseline": "middle" }, dec(v)));
  }
  // seconds between time labels: about one per 110 px, on a round step
  const every = [60, 120, 180, 300, 600, 900, 1800, 3600].find((s) => (windowS / s) * 110 <= W - L - R) ?? 7200;
  for (let ts = Math.ceil(start / every) * every; ts <= end; ts += every) {
    root.append(svg("text", { x: x(ts), y: H - 6, class: "tick", "text-anchor": "middle" }, clock(new Date(ts * 1000), false)));
  }
  for (const [key, label, colour] of SERIES) {
    const d = linePath(list(series.t), series[key], x, y, start);
    if (d) root.append(svg("path", { d, stroke: colour, class: "line" }, svg("title", {}, label)));
  }
  if (!times.length) root.append(svg("text", { x: W / 2, y: H / 2, class: "tick", "text-anchor": "middle" }, "no samples yet"));
  return root;
}

// One path for a series; a null value lifts the pen, so gaps stay gaps.
function linePath(times, values, x, y, start) {
  const vals = Array.isArray(values) ? values : [];
  let d = "";
  let pen = false;
  times.forEach((ts, i) => {
    const v = vals[i];
    if (!isNum(ts) || !isNum(v) || ts < start) { pen = false; return; }
    // "h0" after a move: a point between two gaps still shows, as a dot (round cap)
    d += `${pen ? "L" : "M"}${x(ts).toFixed(1)},${y(v).toFixed(1)}${pen ? "" : "h0"}`;
    pen = true;
  });
  return d;
}

function legend(series) {
  return el("div", "legend", ...SERIES.map(([key, label, colour]) => {
    const now = lastNum(series[key]);
    const swatch = el("span", "swatch");
    swatch.style.background = colour;
    const item = el("span", "legend-item", swatch, label, el("span", "legend-value", isNum(now) ? dec(now) : "no data"));
    if (!isNum(now)) item.classList.add("missing");
    return item;
  }));
}

function renderLag(parts) {
  const known = parts.filter((p) => isNum(p.lag));
  const total = known.length ? known.reduce((sum, p) => sum + p.lag, 0) : null;
  $("lag").replaceChildren(
    stat(num(total), "records behind"),
    parts.length ? hbars(parts.map((p) => ({ label: `partition ${text(p.partition)}`, count: p.lag })), "#f59e0b")
      : empty("no partitions"));
}

function stat(value, label) {
  return el("p", "stat", el("span", "stat-value", value), el("span", "stat-label", label));
}

function renderLatency(id, lat) {
  $(id).replaceChildren(
    el("div", "pct", el("span", "pct-label", "p50"), el("span", "pct-value", ms(lat?.p50_ms))),
    el("div", "pct", el("span", "pct-label", "p99"), el("span", "pct-value", ms(lat?.p99_ms))));
}

function renderErrors(errors, retries) {
  const rows = errors.map((e) => el("li", "", el("span", "kind", text(e.kind)), el("span", "count", num(e.count))));
  $("errors").replaceChildren(
    rows.length ? el("ul", "kv", ...rows) : empty("no errors"),
    el("p", "retries", `retries: write ${num(retries?.write)} · dlq ${num(retries?.dlq)}`));
}

// ---------- charts ----------

// Horizontal bars: one row per {label, count}; null counts get no bar and "—".
function hbars(items, colour = PALETTE[0]) {
  if (!items.length) return empty("no data");
  const W = 300, RH = 24, LW = 104, VW = 48;
  const max = Math.max(1, ...items.map((r) => (isNum(r.count) ? r.count : 0)));
  const root = svg("svg", { viewBox: `0 0 ${W} ${items.length * RH}`, width: W, class: "chart bars" });
  items.forEach((r, i) => {
    const mid = i * RH + RH / 2;
    const w = isNum(r.count) && r.count > 0 ? (r.count / max) * (W - LW - VW) : 0;
    const label = text(r.label);
    root.append(
      svg("text", { x: LW - 8, y: mid, class: "label", "text-anchor": "end", "dominant-baseline": "middle" },
        label.length > 15 ? `${label.slice(0, 14)}…` : label, svg("title", {}, label)),
      svg("rect", { x: LW, y: mid - 8, width: w.toFixed(1), height: 16, rx: 3, fill: colour }),
      svg("text", { x: LW + w + 6, y: mid, class: "value", "dominant-baseline": "middle" }, num(r.count)));
  });
  return root;
}

// Vertical bars; with many bars only every k-th label is drawn so they don't collide.
function vbars(items, colour = PALETTE[0]) {
  if (!items.length) return empty("no data");
  const W = 360, H = 180, T = 16, B = 20, M = 14; // M: room for the outer labels
  const max = Math.max(1, ...items.map((r) => (isNum(r.count) ? r.count : 0)));
  const slot = (W - 2 * M) / items.length;
  const every = Math.ceil(items.length / 9);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, class: "chart bars" });
  items.forEach((r, i) => {
    const h = isNum(r.count) && r.count > 0 ? (r.count / max) * (H - T - B) : 0;
    const left = M + i * slot;
    const cx = left + slot / 2;
    const bar = svg("rect", { x: (left + slot * 0.15).toFixed(1), y: (H - B - h).toFixed(1), width: (slot * 0.7).toFixed(1), height: h.toFixed(1), rx: 2, fill: colour },
      svg("title", {}, `${text(r.label)}: ${num(r.count)}`));
    root.append(bar);
    if (items.length <= 12) root.append(svg("text", { x: cx, y: H - B - h - 4, class: "value", "text-anchor": "middle" }, num(r.count)));
    if (i % every === 0) root.append(svg("text", { x: cx, y: H - 5, class: "label", "text-anchor": "middle" }, text(r.label)));
  });
  return root;
}

// Donut of shares drawn with dashed circle strokes, legend beside it.
function donut(items) {
  const total = items.reduce((sum, r) => sum + (isNum(r.count) && r.count > 0 ? r.count : 0), 0);
  if (!total) return empty("no data");
  const R = 50, C = 2 * Math.PI * R;
  const root = svg("svg", { viewBox: "0 0 140 140", class: "chart donut" });
  const keys = el("ul", "donut-legend");
  let offset = 0;
  items.forEach((r, i) => {
    const colour = GENDER_COLOURS[r.label] ?? PALETTE[(i + 2) % PALETTE.length];
    const share = isNum(r.count) && r.count > 0 ? r.count / total : 0;
    root.append(svg("circle", { cx: 70, cy: 70, r: R, fill: "none", stroke: colour, "stroke-width": 22,
      "stroke-dasharray": `${(share * C).toFixed(2)} ${C.toFixed(2)}`, "stroke-dashoffset": (-offset * C).toFixed(2),
      transform: "rotate(-90 70 70)" }, svg("title", {}, text(r.label))));
    offset += share;
    const swatch = el("span", "swatch");
    swatch.style.background = colour;
    keys.append(el("li", "", swatch, text(r.label), el("span", "count", `${num(r.count)} · ${Math.round(share * 100)}%`)));
  });
  root.append(svg("text", { x: 70, y: 70, class: "donut-total", "text-anchor": "middle", "dominant-baseline": "middle" }, num(total)));
  return el("div", "donut-box", root, keys);
}

// ---------- dead-letter topic ----------

function renderDlq(d) {
  const reasons = list(d?.by_reason).map((r) => ({ label: r.reason, count: r.count }));
  const latest = list(d?.latest);
  $("dlq").replaceChildren(
    el("div", "dlq-side", stat(num(d?.records), `records in ${text(d?.topic)}`),
      reasons.length ? hbars(reasons, "#ef4444") : empty("no dead-lettered records")),
    latest.length ? dlqTable(latest) : empty("no recent dead-lettered records"));
}

function dlqTable(records) {
  const head = el("tr", "", ...["time", "reason", "source", "error", "payload"].map((h) => el("th", "", h)));
  const rows = records.map((r) => {
    const cell = (value, cls = "") => {
      const td = el("td", cls, value);
      td.title = value; // full text on hover, as the cell may be cut with an ellipsis
      return td;
    };
    return el("tr", "",
      cell(isoClock(r.time), "mono"),
      cell(text(r.reason)),
      cell(isNum(r.source_partition) ? `p${r.source_partition} @ ${text(r.source_offset)}` : DASH, "mono"),
      cell(text(r.error)),
      cell(text(r.payload), "mono payload"));
  });
  return el("div", "table-box", el("table", "dlq-table", el("thead", "", head), el("tbody", "", ...rows)));
}

// ---------- users ----------

const badPictures = new Set(); // URLs that failed once are not asked for again

function renderUsers(u) {
  const users = list(u?.users);
  $("users").replaceChildren(...(users.length ? users.map(userCard) : [empty("no stored users yet")]));
  $("users-caption").textContent = sampleCaption(u, "newest of all N stored rows", "newest in a sample of N rows");
}

function userCard(u) {
  const name = [u.first_name, u.last_name].filter((s) => typeof s === "string" && s).join(" ") || DASH;
  return el("article", "user",
    avatar(name, u.picture),
    el("div", "user-body",
      el("h3", "user-name", name),
      el("p", "user-handle mono", u.username ? `@${u.username}` : DASH),
      el("p", "user-email", text(u.email)),
      el("p", "user-meta", `${text(u.country)} · ${isNum(u.age) ? `${u.age} years` : DASH}`),
      el("p", "user-stored", `stored ${ago(u.written_at)}`)));
}

// Initials on a colour derived from the name; the picture, if it loads, covers them.
function avatar(name, url) {
  const initials = name.split(/\s+/).map((w) => Array.from(w)[0] ?? "").join("").slice(0, 2).toUpperCase();
  const box = el("div", "avatar", initials === "—" ? "?" : initials);
  let hue = 0;
  for (const ch of name) hue = (hue * 31 + ch.codePointAt(0)) % 360;
  box.style.background = `hsl(${hue} 55% 42%)`;
  if (typeof url === "string" && /^https?:\/\//.test(url) && !badPictures.has(url)) {
    const img = document.createElement("img");
    img.alt = "";
    img.loading = "lazy";
    img.referrerPolicy = "no-referrer";
    img.addEventListener("error", () => { badPictures.add(url); img.remove(); }, { once: true });
    img.src = url;
    box.append(img);
  }
  return box;
}

// ---------- stored data ----------

function renderData(d) {
  const items = (v) => list(v).filter((r) => typeof r === "object");
  const figure = (title, chart) => el("figure", "mini", el("figcaption", "", title), chart);
  $("charts").replaceChildren(
    figure("gender", donut(items(d?.gender))),
    figure("top countries", hbars(items(d?.countries), PALETTE[1])),
    figure("age", vbars(items(d?.age), PALETTE[2])),
    figure("registered, by year", vbars(items(d?.registered), PALETTE[5])));
  $("charts-caption").textContent = sampleCaption(d, "all N stored rows", "a sample of N rows");
}

// ---------- start ----------

poll("/api/status", 2000, renderStatus);
poll("/api/flow", 2000, renderFlow);
poll("/api/dlq", 5000, renderDlq);
poll("/api/users?limit=12", 10000, renderUsers);
poll("/api/data", 10000, renderData);
