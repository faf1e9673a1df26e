// seqlab's page: pick a loaded model, type, and see what the model sees.
//
// Plain JavaScript, no build step and no external assets. Everything it shows comes from this
// service:
//   GET  /v1/models                 the models to pick from
//   POST /v1/sentiment              the prediction and its confidences (Azure AI Language shape)
//   WS   /v1/sentiment/stream       a recurrent model's running sentiment while typing
//   POST /v1/attention              a Transformer's self-attention maps, a translation's alignment
//   POST /v1/translate              the translation (Azure Translator shape)
//   POST /v1/generate               generated text, streamed as server-sent events
//   POST /v1/forecast               the forecast after pasted CSV rows
// The optional API key is sent as the X-API-Key header (as ?api-key= on the WebSocket, where a
// browser cannot set headers).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const RECURRENT = new Set(["rnn", "lstm", "gru"]);
  const TASK_NAMES = {
    sentiment: "Sentiment",
    translation: "Translation",
    lm: "Generation",
    forecasting: "Forecasting",
  };
  const PANELS = ["prediction-panel", "curve-panel", "attention-panel", "translation-panel",
    "generation-panel", "forecast-panel"];
  // ColorBrewer "Blues", light to dark: a heatmap cell's colour by its share of the map's maximum.
  const BLUES = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
  const LABEL_COLOURS = { positive: "#1a7f4b", negative: "#b3261e", neutral: "#6b7280" };
  const PALETTE = ["#1f5fa8", "#c2410c", "#7c3aed", "#0f766e", "#a16207", "#be185d"];
  const TYPING_DELAY_MS = 300;

  const state = {
    models: [],
    current: null, // the picked model: {name, task, family}
    view: null, // "stream" | "attention" | "translation" | "generation" | "forecast"
    request: 0, // the latest request's number: answers to older ones are dropped
    timer: null,
    socket: null,
    sent: "", // the text the stream on the server holds
    pending: [], // for each message in flight, the word count its answer belongs to
    points: [], // points[k]: the scores after k words
    generation: null, // the AbortController of the generation being streamed
  };

  // ---- talking to the service ----
  class ApiFailure extends Error {
    constructor(status, body) {
      const error = body && body.error;
      super(error ? error.message : `the service answered ${status}`);
      this.status = status;
      this.field = error ? error.field : undefined;
    }
  }

  function headers(json) {
    const result = {};
    if (json) result["Content-Type"] = "application/json";
    const key = $("api-key").value.trim();
    if (key) result["X-API-Key"] = key;
    return result;
  }

  async function failure(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    return new ApiFailure(response.status, body);
  }

  async function post(path, body, signal) {
    const response = await fetch(withModel(path), {
      method: "POST",
      headers: headers(true),
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw await failure(response);
    return response.json();
  }

  function withModel(path) {
    return `${path}?model=${encodeURIComponent(state.current.name)}`;
  }

  // ---- what is on screen ----
  function setStatus(text) {
    $("status").textContent = text;
  }

  function showError(error) {
    const box = $("error");
    if (!error) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    box.textContent = error.message || String(error);
    box.hidden = false;
  }

  function showPanels(names) {
    for (const id of PANELS) $(id).hidden = !names.includes(id);
  }

  function percent(p) {
    return `${(100 * p).toFixed(1)}%`;
  }

  function labelColour(label, index) {
    return LABEL_COLOURS[label.toLowerCase()] || PALETTE[index % PALETTE.length];
  }

  function showPrediction(label, scores) {
    const box = $("prediction");
    box.textContent = "";
    const strong = document.createElement("strong");
    strong.textContent = label;
    box.append(strong, ` (${percent(scores[label])} confident)`);
    box.dataset.label = label;
    const list = $("scores");
    list.textContent = "";
    Object.entries(scores).forEach(([name, p], index) => {
      const row = document.createElement("div");
      row.className = "score";
      const title = document.createElement("span");
      title.textContent = name;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.setAttribute("aria-hidden", "true");
      const fill = document.createElement("span");
      fill.className = "fill";
      fill.style.width = percent(p);
      fill.style.background = labelColour(name, index);
      bar.append(fill);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = percent(p);
      row.append(title, bar, value);
      list.append(row);
    });
    $("prediction-panel").hidden = false;
  }

  // ---- canvases ----
  function sizedContext(canvas, width, height) {
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const context = canvas.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    return context;
  }

  function blues(share) {
    const x = Math.min(1, Math.max(0, share)) * (BLUES.length - 1);
    const i = Math.min(BLUES.length - 2, Math.floor(x));
    const t = x - i;
    const [a, b] = [BLUES[i], BLUES[i + 1]];
    const channel = (k) => Math.round(a[k] + (b[k] - a[k]) * t);
    return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
  }

  function shortToken(token) {
    return token.length > 12 ? `${token.slice(0, 11)}…` : token;
  }

  // A heatmap of matrix[i][j] (rows: rowTokens, columns: columnTokens) with the tokens along its
  // edges when the cells are big enough to read them; pointing at a cell shows its weight.
  function drawHeatmap(canvas, matrix, rowTokens, columnTokens, side) {
    const rows = matrix.length;
    const columns = rows ? matrix[0].length : 0;
    const cell = Math.max(3, Math.min(26, Math.floor(side / Math.max(rows, columns, 1))));
    const font = "11px system-ui, sans-serif";
    const labelled = cell >= 9;
    const measure = document.createElement("canvas").getContext("2d");
    measure.font = font;
    const widest = (tokens) => Math.min(90, Math.max(0, ...tokens.map(
      (t) => measure.measureText(shortToken(t)).width)));
    const left = labelled ? Math.ceil(widest(rowTokens)) + 8 : 2;
    const top = labelled ? Math.ceil(widest(columnTokens)) + 8 : 2;
    const width = left + columns * cell + 2;
    const height = top + rows * cell + 2;
    const context = sizedContext(canvas, width, height);
    let peak = 0;
    for (const row of matrix) for (const value of row) peak = Math.max(peak, value);
    const scale = peak > 0 ? peak : 1;
    for (let i = 0; i < rows; i += 1) {
      for (let j = 0; j < columns; j += 1) {
        context.fillStyle = blues(matrix[i][j] / scale);
        context.fillRect(left + j * cell, top + i * cell, cell, cell);
      }
    }
    context.strokeStyle = "#d9dee7";
    context.strokeRect(left - 0.5, top - 0.5, columns * cell + 1, rows * cell + 1);
    if (labelled) {
      context.fillStyle = "#1d2430";
      context.font = font;
      context.textAlign = "right";
      context.textBaseline = "middle";
      rowTokens.forEach((token, i) => {
        context.fillText(shortToken(token), left - 4, top + i * cell + cell / 2);
      });
      columnTokens.forEach((token, j) => {
        context.save();
        context.translate(left + j * cell + cell / 2, top - 4);
        context.rotate(-Math.PI / 2);
        context.textAlign = "left";
        context.fillText(shortToken(token), 0, 0);
        context.restore();
      });
    }
    canvas.onmousemove = (event) => {
      const box = canvas.getBoundingClientRect();
      const j = Math.floor((event.clientX - box.left - left) / cell);
      const i = Math.floor((event.clientY - box.top - top) / cell);
      if (i < 0 || j < 0 || i >= rows || j >= columns) {
        hideTooltip();
        return;
      }
      showTooltip(event, `${rowTokens[i]} → ${columnTokens[j]}: ${matrix[i][j].toFixed(3)}`);
    };
    canvas.onmouseleave = hideTooltip;
    canvas.dataset.drawn = "true";
    return strongest(matrix, rowTokens, columnTokens);
  }

  function strongest(matrix, rowTokens, columnTokens) {
    let best = { value: -1, i: 0, j: 0 };
    matrix.forEach((row, i) => row.forEach((value, j) => {
      if (value > best.value) best = { value, i, j };
    }));
    return `strongest: ${rowTokens[best.i]} → ${columnTokens[best.j]} (${best.value.toFixed(2)})`;
  }

  function showTooltip(event, text) {
    const tip = $("tooltip");
    tip.textContent = text;
    tip.style.left = `${event.clientX + 12}px`;
    tip.style.top = `${event.clientY + 12}px`;
    tip.hidden = false;
  }

  function hideTooltip() {
    $("tooltip").hidden = true;
  }

  // A line chart: series = [{values: [[x, y], ...], colour, dashed}], axes from the data.
  function drawLines(canvas, series, options) {
    const width = canvas.clientWidth || 720;
    const height = canvas.clientHeight || 220;
    const context = sizedContext(canvas, width, height);
    const pad = { left: 48, right: 14, top: 12, bottom: 28 };
    const xs = series.flatMap((s) => s.values.map((p) => p[0]));
    const ys = series.flatMap((s) => s.values.map((p) => p[1]));
    if (!xs.length) return;
    let [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
    let [yMin, yMax] = options.yRange || [Math.min(...ys), Math.max(...ys)];
    if (xMax === xMin) [xMin, xMax] = [xMin - 1, xMax + 1];
    if (yMax === yMin) [yMin, yMax] = [yMin - 1, yMax + 1];
    const px = (x) => pad.left + ((x - xMin) / (xMax - xMin)) * (width - pad.left - pad.right);
    const py = (y) => height - pad.bottom - ((y - yMin) / (yMax - yMin)) * (height - pad.top - pad.bottom);
    context.font = "11px system-ui, sans-serif";
    context.strokeStyle = "#e3e7ee";
    context.fillStyle = "#5b6575";
    context.lineWidth = 1;
    context.textAlign = "right";
    context.textBaseline = "middle";
    for (let k = 0; k <= 4; k += 1) {
      const y = yMin + ((yMax - yMin) * k) / 4;
      context.beginPath();
      context.moveTo(pad.left, py(y));
      context.lineTo(width - pad.right, py(y));
      context.stroke();
      context.fillText(options.yFormat(y), pad.left - 6, py(y));
    }
    context.textAlign = "center";
    context.textBaseline = "top";
    for (const [x, text] of options.xTicks(xMin, xMax)) {
      // Kept inside the canvas: a long label at either end would be cut off.
      const half = context.measureText(text).width / 2;
      const at = Math.min(width - half - 2, Math.max(half + 2, px(x)));
      context.fillText(text, at, height - pad.bottom + 6);
    }
    if (options.divider !== undefined) {
      context.strokeStyle = "#9aa3b2";
      context.setLineDash([3, 3]);
      context.beginPath();
      context.moveTo(px(options.divider), pad.top);
      context.lineTo(px(options.divider), height - pad.bottom);
      context.stroke();
      context.setLineDash([]);
    }
    for (const line of series) {
      context.strokeStyle = line.colour;
      context.fillStyle = line.colour;
      context.lineWidth = 2;
      context.setLineDash(line.dashed ? [6, 4] : []);
      context.beginPath();
      line.values.forEach(([x, y], k) => (k ? context.lineTo(px(x), py(y)) : context.moveTo(px(x), py(y))));
      context.stroke();
      context.setLineDash([]);
      if (line.dots) {
        for (const [x, y] of line.values) {
          context.beginPath();
          context.arc(px(x), py(y), 3, 0, 2 * Math.PI);
          context.fill();
        }
      }
    }
  }

  function integerTicks(xMin, xMax) {
    const step = Math.max(1, Math.ceil((xMax - xMin) / 10));
    const ticks = [];
    for (let x = Math.ceil(xMin); x <= xMax; x += step) ticks.push([x, String(x)]);
    return ticks;
  }

  // ---- sentiment: the prediction ----
  async function predictSentiment(text, request) {
    const answer = await post("/v1/sentiment", { documents: [{ id: "1", text }] });
    if (request !== state.request) return;
    const scored = answer.documents && answer.documents[0];
    if (!scored) {
      const problem = answer.errors && answer.errors[0];
      const message = problem && problem.error ? problem.error.message : "the text could not be scored";
      throw new Error(message);
    }
    showPrediction(scored.sentiment, scored.confidenceScores);
  }

  // ---- sentiment, recurrent: the running curve over the WebSocket ----
  function wordCount(text) {
    const words = text.match(/\S+/g);
    return words ? words.length : 0;
  }

  function openStream() {
    closeStream();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${location.host}/v1/sentiment/stream?model=${encodeURIComponent(state.current.name)}`;
    const key = $("api-key").value.trim();
    if (key) url += `&api-key=${encodeURIComponent(key)}`;
    const socket = new WebSocket(url);
    state.socket = socket;
    state.sent = "";
    state.pending = [];
    socket.onopen = () => syncStream();
    socket.onmessage = (event) => {
      if (state.socket !== socket) return;
      const answer = JSON.parse(event.data);
      const words = state.pending.shift();
      if (answer.error) {
        showError(answer.error);
        return;
      }
      if (words > 0 && answer.tokens > 0) state.points[words] = answer;
      drawCurve(answer);
    };
    socket.onclose = (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (event.reason) setStatus(`Stream closed: ${event.reason}`);
    };
  }

  function closeStream() {
    if (state.socket) {
      const socket = state.socket;
      state.socket = null;
      socket.close(1000, "the page moved on");
    }
  }

  function send(message, words) {
    state.pending.push(words);
    state.socket.send(JSON.stringify(message));
  }

  // Bring the server's text up to the text box: append what was typed, word by word, so that
  // the curve gets a point per word even for pasted text; an edit before the end starts again.
  function syncStream() {
    const socket = state.socket;
    if (!socket || socket.readyState === WebSocket.CLOSING || socket.readyState === WebSocket.CLOSED) {
      openStream();
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return; // onopen syncs
    const text = $("text").value;
    if (text === state.sent) return;
    let sent = state.sent;
    if (!text.startsWith(sent)) {
      state.points = [];
      sent = "";
      send({ reset: true }, 0);
    }
    for (const piece of text.slice(sent.length).match(/\S*\s+|\S+/g) || []) {
      sent += piece;
      send({ text: piece }, wordCount(sent));
    }
    state.points.length = wordCount(text) + 1; // words deleted at the end lose their points
    state.sent = text;
  }

  function drawCurve(latest) {
    const canvas = $("curve");
    const labels = latest ? Object.keys(latest.scores) : [];
    const defined = state.points.map((p, k) => [k, p]).filter(([, p]) => p);
    canvas.dataset.points = String(defined.length);
    const series = labels.map((label, index) => ({
      values: defined.map(([k, p]) => [k, p.scores[label]]),
      colour: labelColour(label, index),
      dots: true,
    }));
    drawLines(canvas, series, {
      yRange: [0, 1],
      yFormat: (y) => `${Math.round(100 * y)}%`,
      xTicks: integerTicks,
    });
    const legend = $("curve-legend");
    legend.textContent = "";
    labels.forEach((label, index) => {
      const item = document.createElement("span");
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = labelColour(label, index);
      item.append(swatch, label);
      legend.append(item);
    });
    if (latest && defined.length) {
      const last = defined[defined.length - 1][1];
      const how = latest.mode === "incremental"
        ? "one recurrent step per new token (the state is carried)"
        : "the whole text read again at each word";
      $("curve-note").textContent = `After ${defined[defined.length - 1][0]} word(s): ${last.label}. ` +
        `Mode: ${latest.mode}, ${how}; last push ${(1000 * latest.seconds).toFixed(1)} ms.`;
      canvas.setAttribute("aria-label", `Running sentiment over ${defined.length} word(s); ` +
        `now ${last.label} at ${percent(last.scores[last.label])}`);
    }
  }

  // ---- sentiment, Transformer: attention heatmaps ----
  async function showAttention(text, request) {
    const answer = await post("/v1/attention", { text });
    if (request !== state.request) return;
    const box = $("heatmaps");
    box.textContent = "";
    const side = answer.layers.length && answer.layers[0].heads.length > 4 ? 180 : 260;
    answer.layers.forEach((layer, l) => {
      const figure = document.createElement("section");
      figure.className = "layer";
      const title = document.createElement("h3");
      title.textContent = `Layer ${l + 1}`;
      const heads = document.createElement("div");
      heads.className = "heads";
      layer.heads.forEach((matrix, h) => {
        const head = document.createElement("figure");
        head.className = "head";
        const canvas = document.createElement("canvas");
        canvas.className = "heatmap";
        canvas.setAttribute("role", "img");
        const caption = document.createElement("figcaption");
        caption.textContent = `head ${h + 1}`;
        head.append(canvas, caption);
        heads.append(head);
        const summary = drawHeatmap(canvas, matrix, answer.tokens, answer.tokens, side);
        canvas.setAttribute("aria-label", `Layer ${l + 1}, head ${h + 1}: attention among ` +
          `${answer.tokens.length} tokens; ${summary}`);
      });
      figure.append(title, heads);
      box.append(figure);
    });
    $("attention-panel").hidden = false;
    if (answer.truncated) setStatus("The model read only the start of the text.");
  }

  // ---- translation ----
  async function translate(text, request) {
    const [translated, aligned] = await Promise.allSettled([
      post("/v1/translate", [{ text }]),
      post("/v1/attention", { text }),
    ]);
    if (request !== state.request) return;
    $("translation-panel").hidden = false;
    if (translated.status === "fulfilled") {
      $("translation").textContent = translated.value[0].translations[0].text;
    } else if (aligned.status === "fulfilled") {
      $("translation").textContent = aligned.value.translation;
    }
    if (aligned.status === "fulfilled") {
      const answer = aligned.value;
      const box = $("alignment");
      box.textContent = "";
      const canvas = document.createElement("canvas");
      canvas.className = "heatmap";
      canvas.setAttribute("role", "img");
      box.append(canvas);
      const summary = drawHeatmap(canvas, answer.alignment, answer.targetTokens, answer.sourceTokens, 420);
      canvas.setAttribute("aria-label", `Alignment of ${answer.targetTokens.length} target ` +
        `subwords over ${answer.sourceTokens.length} source subwords; ${summary}`);
    }
    const failed = [translated, aligned].find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  }

  // ---- generation: server-sent events read from the response body as they arrive ----
  function parseEvent(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    return { event, data: data.join("\n") };
  }

  async function generate(prompt, request) {
    if (state.generation) state.generation.abort();
    const controller = new AbortController();
    state.generation = controller;
    $("prompt-echo").textContent = prompt;
    const out = $("generated");
    out.textContent = "";
    $("generation-panel").hidden = false;
    const response = await fetch(withModel("/v1/generate"), {
      method: "POST",
      headers: headers(true),
      body: JSON.stringify({ prompt, stream: true }),
      signal: controller.signal,
    });
    if (!response.ok) throw await failure(response);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || request !== state.request) break;
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n?/g, "\n");
      let end = buffer.indexOf("\n\n");
      while (end >= 0) {
        const { event, data } = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event === "done") return;
        if (data) {
          const message = JSON.parse(data);
          if (event === "error" || message.error) throw new ApiFailure(422, message);
          if (typeof message.text === "string") out.textContent += message.text;
        }
        end = buffer.indexOf("\n\n");
      }
    }
  }

  // ---- forecasting ----
  function parseCsv(text) {
    const lines = text.split(/\r?\n/).filter((line) => line.trim());
    const split = (line) => line.split(",").map((cell) => cell.trim().replace(/^"(.*)"$/, "$1"));
    return { header: lines.length ? split(lines[0]) : [], rows: lines.slice(1).map(split) };
  }

  function shortTime(timestamp) {
    // "2024-02-05T00:00:00" -> "2024-02-05 00:00", as CSV files usually write it.
    return String(timestamp).replace("T", " ").replace(/(\d\d:\d\d):00(\.0+)?$/, "$1");
  }

  async function forecast(csv, request) {
    const answer = await post("/v1/forecast", { csv });
    if (request !== state.request) return;
    const { header, rows } = parseCsv(csv);
    const history = rows.slice(-240);
    const charts = $("forecast-charts");
    charts.textContent = "";
    answer.columns.forEach((column, index) => {
      const at = header.indexOf(column);
      const past = at < 0 ? [] : history.map((row, k) => [k, parseFloat(row[at])]).filter(([, y]) => Number.isFinite(y));
      const start = history.length;
      const future = answer.forecast.map((row, k) => [start + k, row[column]]);
      const figure = document.createElement("figure");
      const caption = document.createElement("figcaption");
      caption.textContent = column;
      const canvas = document.createElement("canvas");
      canvas.className = "chart";
      canvas.setAttribute("role", "img");
      canvas.setAttribute("aria-label", `${column}: ${past.length} rows of history, then ` +
        `${future.length} forecast steps from ${answer.forecast[0].timestamp}`);
      figure.append(caption, canvas);
      charts.append(figure);
      const joined = past.length ? [past[past.length - 1], ...future] : future;
      const firstTime = at < 0 || !history.length ? "" : shortTime(history[0][0]);
      const lastTime = shortTime(answer.forecast[answer.forecast.length - 1].timestamp);
      drawLines(canvas, [
        { values: past, colour: "#1d2430" },
        { values: joined, colour: PALETTE[(index + 1) % PALETTE.length], dashed: true, dots: true },
      ], {
        divider: past.length ? start - 1 : undefined,
        yFormat: (y) => (Math.abs(y) >= 100 ? y.toFixed(0) : y.toPrecision(3)),
        xTicks: (xMin, xMax) => [[xMin, firstTime], [xMax, lastTime]],
      });
      canvas.dataset.drawn = "true";
    });
    const table = document.createElement("table");
    const head = table.insertRow();
    for (const name of ["timestamp", ...answer.columns]) {
      const cell = document.createElement("th");
      cell.textContent = name;
      head.append(cell);
    }
    for (const row of answer.forecast) {
      const line = table.insertRow();
      line.insertCell().textContent = row.timestamp;
      for (const column of answer.columns) line.insertCell().textContent = Number(row[column]).toPrecision(5);
    }
    $("forecast-table").textContent = "";
    $("forecast-table").append(table);
    const notes = answer.notes || [];
    $("forecast-notes").textContent = notes.join(" ");
    $("forecast-notes").hidden = !notes.length;
    $("forecast-panel").hidden = false;
  }

  // ---- one run: whatever the picked model shows ----
  async function run() {
    clearTimeout(state.timer);
    if (!state.current) return;
    const text = $("text").value;
    state.request += 1;
    const request = state.request;
    if (!text.trim()) {
      showPanels(state.view === "stream" ? ["curve-panel"] : []);
      showError(null);
      return;
    }
    setStatus("Working…");
    showError(null);
    const work = {
      stream: () => predictSentiment(text, request),
      attention: () => Promise.all([predictSentiment(text, request), showAttention(text, request)]),
      translation: () => translate(text, request),
      generation: () => generate(text, request),
      forecast: () => forecast(text, request),
    }[state.view];
    try {
      await work();
      if (request === state.request && $("status").textContent === "Working…") setStatus("");
    } catch (error) {
      if (request !== state.request || error.name === "AbortError") return;
      setStatus("");
      showError(error);
    }
  }

  function typed() {
    if (state.view === "stream") syncStream();
    if (state.view === "stream" || state.view === "attention") {
      clearTimeout(state.timer);
      state.timer = setTimeout(run, TYPING_DELAY_MS);
    }
  }

  // ---- the model picker ----
  const VIEWS = {
    sentiment: (model) => (RECURRENT.has(model.family) ? "stream" : "attention"),
    translation: () => "translation",
    lm: () => "generation",
    forecasting: () => "forecast",
  };
  const NOTES = {
    stream: "A recurrent model: its running sentiment is drawn after every word while you type.",
    attention: "A Transformer: its attention maps (every layer and head) update while you type.",
    translation: "A translator: press Run to see the translation and where the decoder looked.",
    generation: "A language model: press Run to see the text that follows your prompt, as it is written.",
    forecast: "A forecaster: paste recent rows as CSV (header first) and press Run.",
  };
  const TEXT_LABELS = {
    stream: "Text",
    attention: "Text",
    translation: "Sentence to translate",
    generation: "Prompt",
    forecast: "Recent rows (CSV, header first)",
  };

  function pick(name) {
    const model = state.models.find((m) => m.name === name);
    if (!model) return;
    closeStream();
    if (state.generation) state.generation.abort();
    state.current = model;
    state.view = (VIEWS[model.task] || (() => null))(model);
    state.points = [];
    state.request += 1;
    showError(null);
    setStatus("");
    showPanels([]);
    $("model-note").textContent = NOTES[state.view] || `The page cannot show ${model.task} models.`;
    $("text-label").textContent = TEXT_LABELS[state.view] || "Text";
    if (state.view === "stream") {
      $("curve-panel").hidden = false;
      drawCurve(null);
      openStream();
    }
    // Sentiment reads any text at once; the other tasks wait for Run, since the text typed for
    // one model (a CSV, a prompt) is seldom meant for another.
    const live = state.view === "stream" || state.view === "attention";
    if (live && $("text").value.trim()) run();
  }

  async function loadModels() {
    const select = $("model");
    try {
      const response = await fetch("/v1/models", { headers: headers(false) });
      if (!response.ok) throw await failure(response);
      state.models = (await response.json()).models;
    } catch (error) {
      const needsKey = error.status === 401;
      $("model-note").textContent = needsKey
        ? "This service needs an API key: enter it above."
        : `The models could not be listed: ${error.message}`;
      return;
    }
    const previous = state.current ? state.current.name : null;
    select.textContent = "";
    for (const task of Object.keys(TASK_NAMES).concat(state.models.map((m) => m.task))) {
      const ofTask = state.models.filter((m) => m.task === task);
      if (!ofTask.length || select.querySelector(`optgroup[data-task="${task}"]`)) continue;
      const group = document.createElement("optgroup");
      group.label = TASK_NAMES[task] || task;
      group.dataset.task = task;
      for (const model of ofTask) {
        const option = document.createElement("option");
        option.value = model.name;
        option.textContent = `${model.name} (${model.family})`;
        group.append(option);
      }
      select.append(group);
    }
    if (!state.models.length) {
      $("model-note").textContent = "No model is loaded: start the service with model directories.";
      return;
    }
    const chosen = state.models.some((m) => m.name === previous) ? previous : state.models[0].name;
    select.value = chosen;
    pick(chosen);
  }

  function start() {
    $("model").addEventListener("change", (event) => pick(event.target.value));
    $("text").addEventListener("input", typed);
    $("text").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        run();
      }
    });
    $("ask").addEventListener("submit", (event) => {
      event.preventDefault();
      run();
    });
    let keyTimer = null;
    $("api-key").addEventListener("input", () => {
      clearTimeout(keyTimer);
      keyTimer = setTimeout(loadModels, 400);
    });
    window.addEventListener("resize", () => {
      if (state.view === "stream") drawCurve(state.points.filter(Boolean).pop() || null);
    });
    loadModels();
  }

  start();
})();
