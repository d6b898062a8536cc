// fakeai dashboard. Everything shown comes from requests fakeai received, so it is untrusted: text goes in with
// textContent / createTextNode only (never innerHTML), and the page runs under default-src 'self'.
"use strict";

(function () {
  const BASE = "/_fakeai";
  const KEEP = 5000; // summaries kept in the page
  const ROWS = 500; // rows drawn in the list
  const HISTORY = 60; // metric polls kept for the line charts (2 minutes)
  const FILTERS = ["operation", "status", "model", "namespace", "conversation", "rule", "fault"];

  const state = {
    entries: [],
    lastSeq: 0,
    skipped: 0,
    filter: {},
    options: {},
    selected: null,
    conversation: null,
    source: null,
    tab: "requests",
    drawPending: false,
    queue: [],
    gpu: [],
    tokens: [],
    lastTokens: null,
  };
  FILTERS.forEach((f) => { state.options[f] = new Set(); });

  // --- the API key: ?key= once, then sessionStorage; sent as a header on fetches --------------------------
  (function takeKeyFromUrl() {
    const url = new URL(window.location.href);
    const key = url.searchParams.get("key");
    if (key !== null) {
      sessionStorage.setItem("fakeai.key", key);
      url.searchParams.delete("key");
      history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
  })();
  const apiKey = () => sessionStorage.getItem("fakeai.key") || "";

  async function api(path, asText) {
    const headers = {};
    if (apiKey()) headers.Authorization = "Bearer " + apiKey();
    const response = await fetch(path, { headers: headers, cache: "no-store" });
    if (response.status === 401) {
      askForKey();
      throw new Error("unauthorized");
    }
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return asText ? response.text() : response.json();
  }

  function askForKey() {
    $("#keyform").classList.remove("hidden");
    setStatus("API key needed", "down");
  }

  // --- DOM helpers: text only ------------------------------------------------------------------------------
  function $(sel) { return document.querySelector(sel); }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (k === "text") node.textContent = v == null ? "" : String(v);
        else if (k === "class") node.className = v;
        else node.setAttribute(k, String(v));
      }
    }
    (children || []).forEach((c) => node.appendChild(typeof c === "string" ? document.createTextNode(c) : c));
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function ms(seconds) { return seconds == null ? "" : (seconds * 1000).toFixed(1) + " ms"; }
  function clock(time) { return new Date(time * 1000).toLocaleTimeString(); }
  function pretty(value) { return value === undefined ? "" : JSON.stringify(value, null, 2); }
  function setStatus(text, kind) {
    const node = $("#status");
    node.textContent = text;
    node.className = "status " + (kind || "");
  }

  // --- tabs ------------------------------------------------------------------------------------------------
  function showTab(name) {
    state.tab = name;
    document.querySelectorAll("#tabs button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    document.querySelectorAll("main > section").forEach((s) => s.classList.toggle("hidden", s.id !== "tab-" + name));
    if (name === "scenarios") loadScenarios();
    if (name === "conversations") drawConversations();
    if (name === "metrics") loadMetrics();
  }

  // --- the live feed ---------------------------------------------------------------------------------------
  function connect() {
    if (state.source) state.source.close();
    let url = BASE + "/ui/events?after=" + state.lastSeq;
    if (apiKey()) url += "&key=" + encodeURIComponent(apiKey());
    const source = new EventSource(url);
    state.source = source;
    source.addEventListener("open", () => setStatus("live", "live"));
    source.addEventListener("entry", (ev) => add(JSON.parse(ev.data)));
    source.addEventListener("skipped", (ev) => { state.skipped += JSON.parse(ev.data).count; scheduleDraw(); });
    source.addEventListener("error", () => {
      source.close();
      if (state.source !== source) return;
      setStatus("reconnecting…", "down");
      api(BASE + "/health").then(() => setTimeout(connect, 1000), (err) => {
        if (err.message !== "unauthorized") setTimeout(connect, 3000);
      });
    });
  }

  function add(entry) {
    if (entry.seq <= state.lastSeq) return;
    state.lastSeq = entry.seq;
    state.entries.push(entry);
    if (state.entries.length > KEEP) state.entries.splice(0, state.entries.length - KEEP);
    FILTERS.forEach((f) => {
      const v = entry[f];
      if (v !== null && v !== undefined && v !== "") state.options[f].add(String(v));
    });
    scheduleDraw();
  }

  function scheduleDraw() {
    if (state.drawPending) return;
    state.drawPending = true;
    setTimeout(() => {
      state.drawPending = false;
      drawFilters();
      drawList();
      if (state.tab === "conversations") drawConversations();
    }, 50);
  }

  // --- requests --------------------------------------------------------------------------------------------
  function drawFilters() {
    document.querySelectorAll("#filters select").forEach((select) => {
      const name = select.dataset.filter;
      const have = new Set(Array.from(select.options).map((o) => o.value));
      Array.from(state.options[name]).sort().forEach((v) => {
        if (!have.has(v)) select.appendChild(el("option", { value: v, text: v }));
      });
    });
  }

  function matches(entry) {
    return FILTERS.every((f) => !state.filter[f] || String(entry[f] == null ? "" : entry[f]) === state.filter[f]);
  }

  function drawList() {
    const body = $("#requests tbody");
    const shown = state.entries.filter(matches);
    const rows = document.createDocumentFragment();
    for (let i = shown.length - 1; i >= 0 && shown.length - i <= ROWS; i--) {
      const e = shown[i];
      const tr = el("tr", { "data-seq": e.seq }, [
        el("td", { text: e.seq }),
        el("td", { text: clock(e.time) }),
        el("td", { text: e.operation || e.method + " " + e.path }),
        el("td", { text: e.status, class: "s" + String(e.status).charAt(0) }),
        el("td", { text: e.model || "" }),
        el("td", { text: e.rule || (e.fault ? "fault: " + e.fault : "") }),
        el("td", { text: ms(e.ttft) }),
        el("td", { text: ms(e.total) }),
      ]);
      if (e.seq === state.selected) tr.classList.add("selected");
      rows.appendChild(tr);
    }
    clear(body);
    body.appendChild(rows);
    let count = shown.length + " of " + state.entries.length + " requests";
    if (state.skipped) count += " (" + state.skipped + " skipped by the live feed)";
    $("#count").textContent = count;
  }

  async function showDetail(seq) {
    state.selected = seq;
    document.querySelectorAll("#requests tbody tr").forEach((tr) => tr.classList.toggle("selected", Number(tr.dataset.seq) === seq));
    const detail = $("#detail");
    let entry;
    try {
      entry = await api(BASE + "/ui/entries/" + seq);
    } catch (err) {
      clear(detail);
      detail.appendChild(el("p", { class: "muted", text: "Entry " + seq + " is gone from the journal (" + err.message + ")." }));
      return;
    }
    if (state.selected !== seq) return;
    clear(detail);
    const facts = [
      ["request", entry.method + " " + entry.path],
      ["operation", entry.operation], ["status", entry.status], ["source", entry.source], ["rule", entry.rule],
      ["namespace", entry.namespace], ["conversation", entry.conversation], ["api key", entry.api_key],
      ["request id", entry.request_id], ["fault", entry.fault], ["retry-after", entry.retry_after],
      ["message", entry.message], ["ttft", ms(entry.ttft)], ["total", ms(entry.total)],
      ["disconnected", entry.disconnected ? "yes: the client went away first" : null],
    ];
    const dl = el("dl");
    facts.forEach(([k, v]) => {
      if (v === null || v === undefined || v === "") return;
      dl.appendChild(el("dt", { text: k }));
      dl.appendChild(el("dd", { text: v }));
    });
    detail.appendChild(el("h2", { text: "#" + entry.seq + " " + (entry.operation || entry.path) }));
    detail.appendChild(dl);
    detail.appendChild(el("h2", { text: "Request body" }));
    detail.appendChild(el("pre", { class: "request", text: entry.request == null ? "(none)" : pretty(entry.request) }));
    if (entry.stream) {
      detail.appendChild(el("h2", { class: "stream", text: "Stream: " + entry.stream.frames + " frames (the journal keeps the first and the last)" }));
      detail.appendChild(el("pre", { class: "frame-first", text: pretty(entry.stream.first) }));
      detail.appendChild(el("pre", { class: "frame-last", text: pretty(entry.stream.last) }));
      if (entry.stream.timeline) detail.appendChild(drawTimeline(entry.stream.timeline));
    } else {
      detail.appendChild(el("h2", { text: "Response body" }));
      detail.appendChild(el("pre", { class: "response", text: entry.response == null ? "(none)" : pretty(entry.response) }));
    }
  }

  // every frame's planned (simulated) and actual send time, after the request arrived: a plot and a table
  function drawTimeline(timeline) {
    const due = timeline.due || [], sent = timeline.sent, tokens = timeline.tokens || [];
    const box = el("div", { class: "timeline" });
    box.appendChild(el("h2", { text: "Timeline: planned and actual send time of each frame" }));
    const canvas = el("canvas", { id: "timeline-chart", width: 560, height: 180 });
    box.appendChild(canvas);
    const ctx = canvas.getContext("2d");
    const last = Math.max(1e-6, ...due, ...(sent || []));
    const x = (i) => 40 + (canvas.width - 50) * (due.length > 1 ? i / (due.length - 1) : 0.5);
    const y = (t) => canvas.height - 30 - (canvas.height - 40) * (t / last);
    ctx.strokeStyle = "#999";
    ctx.strokeRect(40, 10, canvas.width - 50, canvas.height - 40);
    ctx.fillStyle = "#555";
    ctx.fillText(ms(last), 2, 14);
    ctx.fillText("frame", canvas.width - 40, canvas.height - 12);
    [["#aaa", due], ["#1f6feb", sent || []]].forEach(([color, times]) => {
      ctx.fillStyle = color;
      times.forEach((t, i) => ctx.fillRect(x(i) - 1.5, y(t) - 1.5, 3, 3));
    });
    box.appendChild(el("p", { class: "muted", text: "grey: planned by the simulators; blue: sent" +
      (sent ? "" : " (not recorded: the stream was cut by a reset fault)") }));
    const rows = due.slice(0, 200).map((d, i) => el("tr", null, [
      el("td", { text: i }), el("td", { text: tokens[i] }), el("td", { text: ms(d) }),
      el("td", { text: sent ? ms(sent[i]) : "" }), el("td", { text: sent ? ms(sent[i] - d) : "" }),
    ]));
    box.appendChild(el("table", { id: "timeline" }, [
      el("thead", null, [el("tr", null, ["frame", "tokens", "planned", "sent", "late"].map((h) => el("th", { text: h })))]),
      el("tbody", null, rows),
    ]));
    if (due.length > 200) box.appendChild(el("p", { class: "muted", text: "first 200 of " + due.length + " frames" }));
    return box;
  }

  // --- conversations ---------------------------------------------------------------------------------------
  function drawConversations() {
    const groups = new Map();
    state.entries.forEach((e) => {
      if (!e.conversation) return;
      const key = (e.namespace ? e.namespace + " / " : "") + e.conversation;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(e);
    });
    const list = $("#conversation-list");
    clear(list);
    groups.forEach((turns, key) => {
      const li = el("li", { "data-conversation": key }, [key + " (" + turns.length + " turns)"]);
      if (key === state.conversation) li.classList.add("selected");
      li.addEventListener("click", () => { state.conversation = key; drawConversations(); });
      list.appendChild(li);
    });
    const turns = groups.get(state.conversation);
    if (!turns) return;
    const transcript = $("#transcript");
    clear(transcript);
    transcript.appendChild(el("h2", { text: state.conversation }));
    turns.forEach((e) => {
      transcript.appendChild(el("div", { class: "turn user" }, [
        el("span", { class: "meta", text: "#" + e.seq + " user · " + clock(e.time) }),
        e.prompt || "(no text)",
      ]));
      const meta = "assistant · " + e.status + " · " + (e.rule ? "rule " + e.rule : e.source) +
        (e.state ? " · state " + e.state : "") +
        (e.fault ? " · fault " + e.fault : "") + (e.ttft != null ? " · ttft " + ms(e.ttft) : "");
      transcript.appendChild(el("div", { class: "turn assistant", "data-rule": e.rule || "", "data-state": e.state || "" }, [
        el("span", { class: "meta", text: meta }),
        e.reply || "(no text)",
      ]));
    });
  }

  // --- scenarios, expectations, reload ---------------------------------------------------------------------
  async function loadScenarios() {
    try {
      const [scenarios, expectations, reload, metrics] = await Promise.all([
        api(BASE + "/scenarios"), api(BASE + "/expectations"), api(BASE + "/reload"), api("/metrics", true),
      ]);
      drawScenarios(scenarios.data);
      drawCounters(parseMetrics(metrics));
      drawExpectations(expectations);
      drawReload(reload);
    } catch (err) {
      $("#scenarios").textContent = "Could not load: " + err.message;
    }
  }

  function drawScenarios(data) {
    const box = $("#scenarios");
    clear(box);
    if (!data.length) box.appendChild(el("p", { class: "muted", text: "No scenario is loaded." }));
    data.forEach((s) => {
      const rules = el("table", null, [el("thead", null, [el("tr", null, [el("th", { text: "rule" }), el("th", { text: "hits" })])])]);
      const body = el("tbody");
      (s.rules || []).forEach((r) => body.appendChild(el("tr", null, [el("td", { text: r.name }), el("td", { text: r.hits })])));
      rules.appendChild(body);
      box.appendChild(el("div", { class: "card scenario" }, [
        el("h2", { text: s.name }),
        el("p", { class: "muted", text: s.source || "" }),
        rules,
        el("p", { text: "states:" }),
        el("pre", { text: pretty(s.states) }),
      ]));
    });
  }

  // chaos faults and refusals (rate limits, chaos errors) as the Prometheus counters count them: exact, not sampled
  function drawCounters(samples) {
    const box = $("#counters");
    clear(box);
    const table = (id, heads, rows) => {
      const body = el("tbody", null, rows.map((r) => el("tr", null, r.map((v) => el("td", { text: v })))));
      return el("table", { id: id }, [el("thead", null, [el("tr", null, heads.map((h) => el("th", { text: h })))]), body]);
    };
    const faults = samples.filter((s) => s.name === "fakeai_stream_faults_total" && s.value > 0);
    const refused = new Map();
    samples.filter((s) => s.name === "fakeai_requests_total" && Number(s.labels.status) >= 400 && s.value > 0)
      .forEach((s) => {
        const key = s.labels.status + " " + s.labels.source;
        refused.set(key, (refused.get(key) || 0) + s.value);
      });
    box.appendChild(el("div", { class: "card" }, [
      el("strong", { text: "stream faults (fakeai_stream_faults_total)" }),
      faults.length ? table("fault-counts", ["fault", "streams"], faults.map((s) => [s.labels.fault, s.value]))
        : el("p", { class: "muted", text: "none" }),
    ]));
    box.appendChild(el("div", { class: "card" }, [
      el("strong", { text: "error answers by status and source: chaos errors and rate limits (429) are source scenario" }),
      refused.size ? table("refusal-counts", ["status", "source", "answers"],
        Array.from(refused.entries()).sort().map(([k, v]) => [...k.split(" "), v]))
        : el("p", { class: "muted", text: "none" }),
    ]));
  }

  function drawExpectations(data) {
    const box = $("#expectations");
    clear(box);
    box.appendChild(el("p", null, [
      "overall: ",
      el("span", { class: data.passed ? "pass" : "fail", text: data.passed ? "passed" : "failed" }),
      " · client verdict: " + (data.verdict.verdict || ""),
    ]));
    (data.results || []).forEach((r) => {
      box.appendChild(el("div", { class: "card" }, [
        el("span", { class: r.passed ? "pass" : "fail", text: r.passed ? "PASS " : "FAIL " }),
        (r.scenario ? r.scenario + ": " : "") + r.name + " (" + r.kind + ")",
        el("p", { class: "muted", text: r.detail || "" }),
      ]));
    });
    box.appendChild(el("pre", { text: pretty(data.verdict) }));
  }

  function drawReload(data) {
    const box = $("#reload");
    clear(box);
    box.appendChild(el("p", { text: data.enabled ? "hot reload on (every " + data.interval + " s)" : "hot reload off" }));
    (data.files || []).forEach((f) => {
      box.appendChild(el("div", { class: "card" }, [
        el("strong", { text: f.path }),
        el("p", { class: f.error ? "fail" : "muted", text: f.error ? f.error : "loaded" + (f.name ? " as " + f.name : "") }),
      ]));
    });
  }

  // --- metrics: Prometheus text -> canvas ------------------------------------------------------------------
  function parseMetrics(text) {
    const samples = [];
    text.split("\n").forEach((line) => {
      if (!line || line.charAt(0) === "#") return;
      const m = /^([^\s{]+)(?:\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) return;
      const labels = {};
      const re = /([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[2] || "")) !== null) labels[l[1]] = l[2];
      samples.push({ name: m[1], labels: labels, value: Number(m[3]) });
    });
    return samples;
  }

  function buckets(samples, name) {
    const sum = new Map();
    samples.filter((s) => s.name === name + "_bucket").forEach((s) => {
      sum.set(s.labels.le, (sum.get(s.labels.le) || 0) + s.value);
    });
    const les = Array.from(sum.keys()).sort((a, b) => Number(a) - Number(b));
    let previous = 0;
    return les.map((le) => {
      const count = sum.get(le) - previous;
      previous = sum.get(le);
      return { label: le === "+Inf" ? "+Inf" : String(Number(le) * 1000) + "ms", value: count };
    });
  }

  function total(samples, name) {
    return samples.filter((s) => s.name === name).reduce((acc, s) => acc + s.value, 0);
  }

  function frame(canvas) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = "10px sans-serif";
    ctx.strokeStyle = "#dcdce0";
    ctx.strokeRect(40, 10, canvas.width - 50, canvas.height - 40);
    return ctx;
  }

  function barChart(canvas, bars) {
    const ctx = frame(canvas);
    const w = canvas.width - 50, h = canvas.height - 40;
    const max = Math.max(1, ...bars.map((b) => b.value));
    canvas.dataset.total = String(bars.reduce((acc, b) => acc + b.value, 0)); // what the chart shows, for tests
    const step = bars.length ? w / bars.length : w;
    ctx.fillStyle = "#6b6b70";
    ctx.fillText(String(max), 2, 18);
    ctx.fillText("0", 2, 10 + h);
    bars.forEach((b, i) => {
      const bh = (b.value / max) * h;
      ctx.fillStyle = "#2f6fd6";
      ctx.fillRect(40 + i * step + 1, 10 + h - bh, Math.max(1, step - 2), bh);
      if (i % Math.ceil(bars.length / 8) === 0) {
        ctx.fillStyle = "#6b6b70";
        ctx.fillText(b.label, 40 + i * step, canvas.height - 16);
      }
    });
    if (!bars.length) { ctx.fillStyle = "#6b6b70"; ctx.fillText("no data yet", 50, 30); }
  }

  function lineChart(canvas, series) {
    const ctx = frame(canvas);
    const w = canvas.width - 50, h = canvas.height - 40;
    const max = Math.max(1, ...series.flatMap((s) => s.points));
    const first = series.length ? series[0].points : [];
    canvas.dataset.last = String(first.length ? first[first.length - 1] : 0); // what the chart shows, for tests
    canvas.dataset.peak = String(Math.max(0, ...first));
    ctx.fillStyle = "#6b6b70";
    ctx.fillText(String(Math.round(max * 10) / 10), 2, 18);
    ctx.fillText("0", 2, 10 + h);
    series.forEach((s, k) => {
      ctx.strokeStyle = s.color;
      ctx.beginPath();
      s.points.forEach((v, i) => {
        const x = 40 + (i / (HISTORY - 1)) * w, y = 10 + h - (v / max) * h;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
      ctx.fillStyle = s.color;
      const last = s.points.length ? Math.round(s.points[s.points.length - 1] * 10) / 10 : "";
      ctx.fillText(s.name + " " + last, 50 + k * 140, canvas.height - 4);
    });
  }

  function push(list, value) { list.push(value); if (list.length > HISTORY) list.shift(); }

  // tokens/s between two polls, from the generation and prompt token counters (summed over models)
  function tokenRate(samples) {
    const now = performance.now() / 1000;
    const counts = [total(samples, "vllm:generation_tokens_total"), total(samples, "vllm:prompt_tokens_total")];
    const before = state.lastTokens;
    state.lastTokens = { time: now, counts: counts };
    if (!before || now <= before.time) return null;
    return counts.map((c, i) => Math.max(0, c - before.counts[i]) / (now - before.time));
  }

  async function loadMetrics() {
    let text;
    try { text = await api("/metrics", true); } catch (err) { return; }
    const samples = parseMetrics(text);
    barChart($("#chart-ttft"), buckets(samples, "vllm:time_to_first_token_seconds"));
    barChart($("#chart-itl"), buckets(samples, "vllm:inter_token_latency_seconds"));
    push(state.queue, [total(samples, "vllm:num_requests_running"), total(samples, "vllm:num_requests_waiting")]);
    lineChart($("#chart-queue"), [
      { name: "running", color: "#2f6fd6", points: state.queue.map((q) => q[0]) },
      { name: "waiting", color: "#b7791f", points: state.queue.map((q) => q[1]) },
    ]);
    const rate = tokenRate(samples);
    if (rate) push(state.tokens, rate);
    lineChart($("#chart-tokens"), [
      { name: "generated/s", color: "#2f6fd6", points: state.tokens.map((r) => r[0]) },
      { name: "prompt/s", color: "#b7791f", points: state.tokens.map((r) => r[1]) },
    ]);
    const mean = (name) => {
      const found = samples.filter((s) => s.name === name);
      return found.length ? found.reduce((a, s) => a + s.value, 0) / found.length : 0;
    };
    push(state.gpu, [mean("DCGM_FI_DEV_GPU_UTIL"), mean("DCGM_FI_DEV_MEM_COPY_UTIL"), mean("vllm:kv_cache_usage_perc") * 100]);
    lineChart($("#chart-gpu"), [
      { name: "gpu util %", color: "#1e8e3e", points: state.gpu.map((g) => g[0]) },
      { name: "mem copy %", color: "#8e44ad", points: state.gpu.map((g) => g[1]) },
      { name: "kv cache %", color: "#b7791f", points: state.gpu.map((g) => g[2]) },
    ]);
  }

  // --- wiring ----------------------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
    document.querySelectorAll("#filters select").forEach((select) => {
      select.addEventListener("change", () => { state.filter[select.dataset.filter] = select.value; drawList(); });
    });
    $("#requests tbody").addEventListener("click", (ev) => {
      const tr = ev.target.closest("tr");
      if (tr) showDetail(Number(tr.dataset.seq));
    });
    $("#refresh-scenarios").addEventListener("click", loadScenarios);
    $("#keyform").addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem("fakeai.key", $("#keyinput").value);
      $("#keyform").classList.add("hidden");
      connect();
    });
    setInterval(() => { if (state.tab === "metrics") loadMetrics(); }, 2000);
    // a page left (or kept in the back-forward cache) must not hold its connection: browsers allow ~6 per host
    window.addEventListener("pagehide", () => { if (state.source) state.source.close(); state.source = null; });
    window.addEventListener("pageshow", (ev) => { if (ev.persisted) connect(); });
    connect();
  });
})();
