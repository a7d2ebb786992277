/*
  rnnkit serve: the web page's script. Plain JavaScript, no build step, no other host.

  GET v1/models lists the served models; each gets a tab whose view is picked by its task
  in VIEWS (the one table of tasks on this page). A view builds its form and calls its
  model's endpoint: predict (with the per-word trace), generate (server-sent events read
  from fetch(), since EventSource cannot POST), forecast or translate. Errors of the API
  ({"error": ...}) are shown in the view's role="alert" element.

  For tests and tools: every panel carries data-model and data-state (idle, running, done,
  stopped, error); the sentiment bars carry data-word and data-p (the number as received),
  the forecast points data-time and data-mean, the attention cells data-weight.
*/
"use strict";

const VIEWS = {
  sentiment: sentimentView,
  seqclass: seqclassView,
  charlm: generateView,
  generator: generateView,
  forecast: forecastView,
  g2p: translateView,
  seq2seq: translateView,
};

// Class colours (bars, legends): each at least 3:1 against white.
const PALETTE = ["#b8321f", "#1f5fa8", "#2e7d32", "#7b3fa0", "#a15c00", "#00766c", "#5d4037", "#b0175b"];
const KEY = "rnnkit-api-key";
const SVG_NS = "http://www.w3.org/2000/svg";

/* ---------- DOM helpers ---------- */

let lastId = 0;
const uid = (prefix) => `${prefix}-${++lastId}`;

function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

function svgEl(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children);
  return node;
}

/** A labelled control: <div class="field"><label for=id>text</label>control hint</div>. */
function field(text, control, { wide = false, hint = null } = {}) {
  control.id ||= uid("in");
  const box = el("div", { class: wide ? "field wide" : "field" }, el("label", { for: control.id, text }), control);
  if (hint) {
    const note = el("p", { class: "hint", id: uid("hint"), text: hint });
    control.setAttribute("aria-describedby", note.id);
    box.append(note);
  }
  return box;
}

function numberInput(value, { min = null, max = null, step = null, placeholder = null } = {}) {
  return el("input", { type: "number", inputmode: "decimal", value, min, max, step, placeholder });
}

const format = (p, digits = 3) => Number(p).toFixed(digits);
const colour = (k) => PALETTE[k % PALETTE.length];

/* ---------- the API ---------- */

class ApiError extends Error {}

function headers() {
  const result = { "Content-Type": "application/json" };
  const key = sessionStorage.getItem(KEY);
  if (key) result["X-API-Key"] = key;
  return result;
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch {
    // not JSON: say the status instead
  }
  return `the server answered ${response.status} ${response.statusText}`;
}

/** POST body to the model's endpoint; -> the Response (2xx) or throws ApiError. */
async function post(model, body, signal) {
  const url = `v1/models/${encodeURIComponent(model.name)}/${model.endpoint}`;
  const response = await fetch(url, { method: "POST", headers: headers(), body: JSON.stringify(body), signal });
  if (!response.ok) throw new ApiError(await errorOf(response));
  return response;
}

async function postJSON(model, body, signal) {
  return (await post(model, body, signal)).json();
}

/** Server-sent events of a fetch() Response: onEvent({type, data}) for each. */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await eachEvent(reader, onEvent);
  } finally {
    reader.cancel().catch(() => {}); // after an error event or a throw in onEvent
  }
}

async function eachEvent(reader, onEvent) {
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent({ type, data: JSON.parse(data.join("\n")) });
    }
  }
}

/* ---------- one panel's state and errors ---------- */

/** The alert element and data-state of a panel; run(task) wraps one request. */
function panelState(panel) {
  const alert = el("p", { class: "error", role: "alert" });
  const setState = (state) => (panel.dataset.state = state);
  setState("idle");
  return {
    alert,
    setState,
    clear: () => (alert.textContent = ""),
    show(error) {
      alert.textContent = error instanceof ApiError ? error.message : `Error: ${error.message || error}`;
      setState("error");
    },
  };
}

function isAbort(error) {
  return error && error.name === "AbortError";
}

/** Label and probabilities as a table with one bar per class. */
function probabilityTable(classes, probabilities, label) {
  const table = el("table", { class: "probs" });
  classes.forEach((name, k) => {
    const p = probabilities[name];
    const meter = el("span", { class: "meter", role: "img", "aria-label": `${format(p * 100, 1)} %` },
      el("span", { style: `width: ${p * 100}%; background: ${colour(k)}` }));
    table.append(el("tr", { "data-class": name },
      el("th", { scope: "row", text: name === label ? `${name} ✓` : name }),
      el("td", {}, meter), el("td", { text: format(p) })));
  });
  return table;
}

function legend(classes) {
  return el("ul", { class: "legend" }, ...classes.map((name, k) =>
    el("li", {}, el("span", { class: "swatch", style: `background: ${colour(k)}` }), name)));
}

/* ---------- sentiment: P(class) after each word, as the user types ---------- */

function sentimentView(model, panel, ui) {
  const classes = model.classes || [];
  const input = el("input", { type: "text", autocomplete: "off", placeholder: "so much fun" });
  const label = el("p", { class: "label", "aria-live": "polite" });
  const bars = el("div", { class: "bars" });
  const shown = classes.length === 2 ? `P(${classes[1]}) after each word` : "P(predicted class) after each word";
  const chart = el("figure", { class: "chart" }, el("figcaption", { text: shown }), legend(classes),
    el("div", { class: "bars-box" }, bars));
  const probs = el("div");
  const form = el("form", {}, el("div", { class: "fields" },
    field("Text", input, { wide: true, hint: "The prediction follows as you type." })));
  form.addEventListener("submit", (event) => event.preventDefault());
  panel.append(form, ui.alert, label, probs, chart);

  let timer = 0;
  let ticket = 0; // only the answer to the latest text is drawn
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 150);
  });

  async function update() {
    const text = input.value;
    const mine = ++ticket;
    if (!text.trim()) {
      bars.replaceChildren();
      bars.dataset.text = "";
      label.textContent = "";
      probs.replaceChildren();
      ui.clear();
      ui.setState("idle");
      return;
    }
    ui.setState("running");
    try {
      const answer = await postJSON(model, { text, trace: true });
      if (mine !== ticket) return;
      ui.clear();
      drawTrace(answer, text);
      ui.setState("done");
    } catch (error) {
      if (mine === ticket) ui.show(error);
    }
  }

  function drawTrace(answer, text) {
    const { steps, probabilities } = answer.trace;
    bars.replaceChildren(...steps.map((word, t) => {
      const row = probabilities[t];
      const best = row.indexOf(Math.max(...row));
      const k = classes.length === 2 ? 1 : best;
      const p = row[k];
      const bar = el("div", {
        class: "bar", "data-word": word, "data-p": String(p), "data-class": classes[k],
        title: `${word}: P(${classes[k]}) = ${format(p)}`,
        style: `height: ${p * 100}%; background: ${colour(best)}`,
      });
      return el("div", { class: "bar-col" },
        el("div", { class: classes.length === 2 ? "bar-track half" : "bar-track" }, bar),
        el("span", { class: "bar-word", title: word, text: word }));
    }));
    bars.dataset.text = text;
    label.textContent = `Label: ${answer.label}`;
    probs.replaceChildren(probabilityTable(classes, answer.probabilities, answer.label));
  }
}

/* ---------- seqclass: pasted rows of numbers ---------- */

function seqclassView(model, panel, ui) {
  const rows = el("textarea", { rows: 8, spellcheck: "false", placeholder: "0.1, 2.0, -1.3\n0.4, 1.8, -0.9\n0.2, 1.1, -0.4" });
  const button = el("button", { type: "submit", text: "Predict" });
  const label = el("p", { class: "label", "aria-live": "polite" });
  const probs = el("div");
  const form = el("form", {}, el("div", { class: "fields" },
    field("Sequence (one step per line, numbers separated by commas)", rows, { wide: true })),
    el("div", { class: "actions" }, button));
  panel.append(form, ui.alert, label, probs);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ui.clear();
    label.textContent = "";
    probs.replaceChildren();
    let sequence;
    try {
      sequence = parseRows(rows.value);
    } catch (error) {
      return ui.show(error);
    }
    ui.setState("running");
    button.disabled = true;
    try {
      const answer = await postJSON(model, { sequence });
      label.textContent = `Label: ${answer.label} (${sequence.length} steps)`;
      probs.replaceChildren(probabilityTable(model.classes || Object.keys(answer.probabilities),
        answer.probabilities, answer.label));
      ui.setState("done");
    } catch (error) {
      ui.show(error);
    } finally {
      button.disabled = false;
    }
  });
}

/** "1, 2, 3\n4, 5, 6" -> [[1, 2, 3], [4, 5, 6]]; a line that is not numbers is an error. */
function parseRows(text) {
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  if (!lines.length) throw new Error("paste at least one line of numbers");
  const sequence = lines.map((line, t) => line.split(/[,;\s]+/).filter(Boolean).map((cell) => {
    const x = Number(cell);
    if (!Number.isFinite(x)) throw new Error(`line ${t + 1}: ${JSON.stringify(cell)} is not a number`);
    return x;
  }));
  const width = sequence[0].length;
  const other = sequence.findIndex((row) => row.length !== width);
  if (other >= 0) throw new Error(`line ${other + 1} has ${sequence[other].length} numbers, line 1 has ${width}`);
  return sequence;
}

/* ---------- charlm and generator: streamed text ---------- */

function generateView(model, panel, ui) {
  const words = model.task === "generator"; // pieces are words (joined by spaces), else characters
  const prime = el("input", { type: "text", autocomplete: "off", placeholder: words ? "(optional)" : "ROMEO:" });
  const length = numberInput(words ? 40 : 200, { min: 1, max: 2000, step: 1 });
  const temperature = numberInput(0.8, { min: 0.05, max: 100, step: 0.05 });
  const seed = numberInput("", { min: 0, step: 1, placeholder: "random" });
  const count = numberInput(1, { min: 1, max: 20, step: 1 });
  const condition = el("select", {}, ...(model.classes || []).map((name) => el("option", { value: name, text: name })));
  const generate = el("button", { type: "submit", text: "Generate" });
  const stop = el("button", { type: "button", class: "secondary", text: "Stop", disabled: true });
  const output = el("div", { class: "generated", "aria-live": "polite" });
  const status = el("p", { class: "status-line", role: "status" });
  const fields = [
    field("Prime", prime, { wide: true, hint: words ? "Words the sentence starts with." : "Text the model continues." }),
    words ? field("Condition", condition) : null,
    field(words ? "Length (words)" : "Length (characters)", length),
    field("Temperature", temperature),
    field("Seed", seed),
    words ? field("Sentences", count) : null,
  ].filter(Boolean);
  const form = el("form", {}, el("div", { class: "fields" }, ...fields), el("div", { class: "actions" }, generate, stop));
  panel.append(form, ui.alert, output, status);

  let controller = null;
  stop.addEventListener("click", () => controller && controller.abort());

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { stream: true, temperature: Number(temperature.value) || 0.8 };
    if (prime.value) body.prime = prime.value;
    if (length.value) body.length = Number(length.value);
    if (seed.value !== "") body.seed = Number(seed.value);
    if (words) Object.assign(body, { condition: condition.value, count: Number(count.value) || 1 });

    ui.clear();
    output.replaceChildren();
    const outputs = []; // the element each output k is written into
    if (!words && prime.value) output.append(el("span", { class: "prime", text: prime.value }));
    const target = (k) => {
      if (!outputs[k]) {
        outputs[k] = el(words ? "p" : "span", { class: "continuation", "data-output": k });
        output.append(outputs[k]);
      }
      return outputs[k];
    };
    controller = new AbortController();
    generate.disabled = true;
    stop.disabled = false;
    output.setAttribute("aria-busy", "true");
    ui.setState("running");
    status.textContent = "Generating…";
    let pieces = 0;
    let ended = false;
    try {
      const response = await post(model, body, controller.signal);
      await readEvents(response, ({ type, data }) => {
        if (type === "error") throw new ApiError(data.error);
        if (type === "end") return (ended = true);
        const node = target(data.output);
        node.append(words && node.textContent ? ` ${data.piece}` : data.piece);
        pieces += 1;
      });
      if (!ended) throw new Error("the stream ended before its end event");
      status.textContent = `Done: ${pieces} ${words ? "words" : "characters"}.`;
      ui.setState("done");
    } catch (error) {
      if (isAbort(error)) {
        status.textContent = `Stopped after ${pieces} ${words ? "words" : "characters"}.`;
        ui.setState("stopped");
      } else {
        status.textContent = "";
        ui.show(error);
      }
    } finally {
      controller = null;
      generate.disabled = false;
      stop.disabled = true;
      output.removeAttribute("aria-busy");
    }
  });
}

/* ---------- forecast: history, mean and interval in an SVG chart ---------- */

function forecastView(model, panel, ui) {
  const settings = model.settings || {};
  const history = el("textarea", { rows: 8, spellcheck: "false", placeholder: "date,sales,price\n2004-01,28.1,3\n…" });
  const file = el("input", { type: "file", accept: ".csv,.tsv,.txt,text/csv,text/plain" });
  const horizon = numberInput(settings.horizon || 12, { min: 1, max: 10000, step: 1 });
  const button = el("button", { type: "submit", text: "Forecast" });
  const charts = el("div");
  const form = el("form", {}, el("div", { class: "fields" },
    field("History (CSV)", history, { wide: true, hint: "With a header row, the columns the run was trained on. Empty: the run's own series." }),
    field("CSV file", file, { wide: true }),
    field("Horizon (periods)", horizon)),
    el("div", { class: "actions" }, button));
  panel.append(form, ui.alert, charts);

  file.addEventListener("change", async () => {
    if (file.files.length) history.value = await file.files[0].text();
  });

  let last = null; // the last answer, redrawn when the page's width changes
  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => last && !panel.hidden && draw(...last), 150);
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ui.clear();
    const body = {};
    if (history.value.trim()) body.history = history.value;
    if (horizon.value) body.horizon = Number(horizon.value);
    ui.setState("running");
    button.disabled = true;
    try {
      const answer = await postJSON(model, body);
      last = [answer, parseCSV(history.value)];
      draw(...last);
      ui.setState("done");
    } catch (error) {
      ui.show(error);
    } finally {
      button.disabled = false;
    }
  });

  function draw(answer, table) {
    const timeColumn = (settings.columns || {}).time_column;
    charts.replaceChildren();
    answer.targets.forEach((target, k) => {
      const past = table ? seriesOf(table, timeColumn, target) : { times: [], values: [] };
      const keep = Math.max(3 * answer.times.length, 36); // the last part of the history
      const recent = { times: past.times.slice(-keep), values: past.values.slice(-keep) };
      const figure = el("figure", { class: "forecast-chart", "data-target": target });
      charts.append(figure); // measured below at its real width
      figure.append(
        el("figcaption", { text: `${target}: forecast of ${answer.times.length} periods, ${Math.round(answer.coverage * 100)} % interval` }),
        forecastSVG(recent, answer, k, target, timeColumn || "time", figure.clientWidth || 640),
        el("ul", { class: "legend" },
          el("li", {}, el("span", { class: "swatch", style: "background: var(--history)" }), "history"),
          el("li", {}, el("span", { class: "swatch", style: "background: var(--forecast)" }), "forecast (mean)"),
          el("li", {}, el("span", { class: "swatch", style: "background: var(--band)" }), `${Math.round(answer.coverage * 100)} % interval`)),
        valuesTable(answer, k));
    });
  }
}

/** CSV text -> {header, rows} (quoted cells allowed); null for empty text. */
function parseCSV(text) {
  if (!text.trim()) return null;
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  const delimiter = text.split("\n", 1)[0].includes("\t") ? "\t" : ",";
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === delimiter) row.push(cell), (cell = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell), (cell = "");
      if (row.some((x) => x.trim())) rows.push(row);
      row = [];
    } else cell += c;
  }
  row.push(cell);
  if (row.some((x) => x.trim())) rows.push(row);
  return { header: rows[0].map((name) => name.trim()), rows: rows.slice(1) };
}

/** The time labels and values of one column of the pasted table (blank or bad cells skipped). */
function seriesOf(table, timeColumn, target) {
  const t = Math.max(0, table.header.indexOf(timeColumn));
  const y = table.header.indexOf(target);
  const series = { times: [], values: [] };
  if (y < 0) return series;
  for (const row of table.rows) {
    const value = Number(row[y]);
    if (row[y] === undefined || row[y].trim() === "" || !Number.isFinite(value)) continue;
    series.times.push((row[t] || "").trim());
    series.values.push(value);
  }
  return series;
}

/** Round tick values covering [low, high]. */
function ticks(low, high, count) {
  const raw = (high - low) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function forecastSVG(history, answer, k, target, timeLabel, width) {
  const W = Math.max(300, Math.round(width));
  const H = Math.round(Math.min(340, Math.max(240, W * 0.5)));
  const m = { left: 58, right: 34, top: 14, bottom: 52 };
  const n = history.values.length;
  const total = n + answer.times.length;
  const mean = answer.mean.map((row) => row[k]);
  const lower = answer.lower.map((row) => row[k]);
  const upper = answer.upper.map((row) => row[k]);
  const all = [...history.values, ...lower, ...upper, ...mean];
  let low = Math.min(...all);
  let high = Math.max(...all);
  if (high - low < 1e-9) (low -= 1), (high += 1);
  const pad = (high - low) * 0.05;
  (low -= pad), (high += pad);
  const x = (i) => m.left + (total > 1 ? (i / (total - 1)) * (W - m.left - m.right) : (W - m.left - m.right) / 2);
  const y = (v) => m.top + ((high - v) / (high - low)) * (H - m.top - m.bottom);
  const line = (points) => points.map(([i, v], j) => `${j ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");

  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
    "aria-label": `${target}: history and forecast with its interval` });
  // y axis: grid lines and values
  for (const v of ticks(low, high, 5)) {
    svg.append(svgEl("line", { class: "grid", x1: m.left, x2: W - m.right, y1: y(v), y2: y(v) }),
      svgEl("text", { x: m.left - 6, y: y(v) + 4, "text-anchor": "end", text: Number(v.toPrecision(6)) }));
  }
  svg.append(svgEl("line", { class: "axis", x1: m.left, x2: m.left, y1: m.top, y2: H - m.bottom }),
    svgEl("line", { class: "axis", x1: m.left, x2: W - m.right, y1: H - m.bottom, y2: H - m.bottom }));
  // x axis: a few time labels, as many as fit
  const times = [...history.times, ...answer.times];
  const every = Math.max(1, Math.ceil(total / Math.max(2, Math.floor((W - m.left - m.right) / 90))));
  for (let i = 0; i < total; i += every) {
    svg.append(svgEl("line", { class: "axis", x1: x(i), x2: x(i), y1: H - m.bottom, y2: H - m.bottom + 4 }),
      svgEl("text", { x: x(i), y: H - m.bottom + 17, "text-anchor": "middle", text: times[i] }));
  }
  svg.append(svgEl("text", { class: "axis-label", x: (m.left + W - m.right) / 2, y: H - 8, "text-anchor": "middle", text: timeLabel }),
    svgEl("text", { class: "axis-label", transform: `translate(14 ${(m.top + H - m.bottom) / 2}) rotate(-90)`, "text-anchor": "middle", text: target }));
  // the interval band, the history, the forecast mean and its points
  const f = mean.map((_, h) => n + h);
  const band = [...f.map((i, h) => [i, upper[h]]), ...f.map((i, h) => [i, lower[h]]).reverse()];
  svg.append(svgEl("path", { class: "band", d: `${line(band)} Z` }));
  if (n) svg.append(svgEl("path", { class: "history", d: line(history.values.map((v, i) => [i, v])) }));
  const joined = n ? [[n - 1, history.values[n - 1]], ...f.map((i, h) => [i, mean[h]])] : f.map((i, h) => [i, mean[h]]);
  svg.append(svgEl("path", { class: "forecast", d: line(joined) }));
  f.forEach((i, h) => svg.append(svgEl("circle", {
    class: "forecast-point", cx: x(i), cy: y(mean[h]), r: 3.5,
    "data-time": answer.times[h], "data-mean": String(mean[h]),
    "data-lower": String(lower[h]), "data-upper": String(upper[h]),
  }, svgEl("title", { text: `${answer.times[h]}: ${format(mean[h])} (${format(lower[h])} to ${format(upper[h])})` }))));
  return svg;
}

function valuesTable(answer, k) {
  const table = el("table", { class: "values" },
    el("tr", {}, ...["time", "mean", "lower", "upper"].map((name) => el("th", { scope: "col", text: name }))),
    ...answer.times.map((time, h) => el("tr", {}, el("th", { scope: "row", text: time }),
      ...[answer.mean, answer.lower, answer.upper].map((rows) => el("td", { text: format(rows[h][k]) })))));
  return el("details", {}, el("summary", { text: "Values" }), el("div", { class: "table-box" }, table));
}

/* ---------- translate (g2p, seq2seq): output and attention map ---------- */

function translateView(model, panel, ui) {
  const settings = model.settings || {};
  const text = el("input", { type: "text", autocomplete: "off", spellcheck: "false" });
  const beam = numberInput(settings.beam || 1, { min: 1, max: 16, step: 1 });
  const button = el("button", { type: "submit", text: "Translate" });
  const output = el("p", { class: "output", "aria-live": "polite" });
  const map = el("div", { class: "table-box" });
  const form = el("form", {}, el("div", { class: "fields" },
    field("Input", text, { wide: true }), field("Beam width", beam, { hint: "1: greedy" })),
    el("div", { class: "actions" }, button));
  panel.append(form, ui.alert, output, map);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    ui.clear();
    output.textContent = "";
    map.replaceChildren();
    if (!text.value.trim()) return ui.show(new Error("type something to translate"));
    ui.setState("running");
    button.disabled = true;
    try {
      const answer = await postJSON(model, { text: text.value, beam: Number(beam.value) || 1 });
      output.textContent = answer.output;
      map.replaceChildren(heatMap(answer));
      ui.setState("done");
    } catch (error) {
      ui.show(error);
    } finally {
      button.disabled = false;
    }
  });
}

/** Attention as a table: a row per output token, a column per source token. */
function heatMap({ source, tokens, attention }) {
  const top = Math.max(1e-12, ...attention.flat());
  const caption = el("figcaption", { id: uid("heat"), text: "Attention: output tokens (rows) over source tokens (columns); darker is more." });
  const table = el("table", { class: "heat", "aria-labelledby": caption.id },
    el("tr", {}, el("td"), ...source.map((token) => el("th", { scope: "col", text: token }))),
    ...tokens.map((token, i) => el("tr", {}, el("th", { scope: "row", text: token }),
      ...source.map((word, j) => {
        const w = attention[i][j];
        return el("td", {
          class: "cell", "data-weight": String(w), title: `${token} ← ${word}: ${format(w)}`,
          style: `background: rgba(31, 95, 168, ${(w / top).toFixed(3)})`,
        });
      }))));
  return el("figure", { class: "chart" }, caption, el("div", { class: "table-box" }, table));
}

/* ---------- the page: tabs from GET v1/models ---------- */

async function loadModels() {
  const status = document.getElementById("status");
  const pageError = document.getElementById("page-error");
  const tabs = document.getElementById("tabs");
  const panels = document.getElementById("panels");
  pageError.textContent = "";
  tabs.replaceChildren();
  panels.replaceChildren();
  let models;
  try {
    const response = await fetch("v1/models", { headers: headers() });
    if (response.status === 401) document.getElementById("key-box").open = true;
    if (!response.ok) throw new ApiError(await errorOf(response));
    models = (await response.json()).models;
  } catch (error) {
    status.textContent = "";
    pageError.textContent = error instanceof ApiError ? error.message : `Cannot reach the server: ${error.message}`;
    return;
  }
  status.textContent = models.length ? `${models.length} model${models.length > 1 ? "s" : ""} served.` : "No models are served.";
  models.forEach((model, k) => {
    const tab = el("button", { type: "button", role: "tab", id: `tab-${k}`, "aria-controls": `panel-${k}`, text: model.name });
    const panel = el("section", { role: "tabpanel", id: `panel-${k}`, "aria-labelledby": tab.id, "data-model": model.name, "data-task": model.task });
    const scores = Object.entries(model.metrics || {}).map(([name, v]) => `${name.replaceAll("_", " ")} ${Number.isInteger(v) ? v : format(v)}`);
    panel.append(el("h2", { text: model.name }),
      el("p", { class: "about", text: [`${model.task} model`, `POST v1/models/${model.name}/${model.endpoint}`, ...scores].join(" · ") }));
    const view = VIEWS[model.task];
    if (view) view(model, panel, panelState(panel));
    else panel.append(el("p", { text: `This page has no view for ${model.task} models; use the JSON API.` }));
    tab.addEventListener("click", () => select(k));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = (k + step + models.length) % models.length;
      select(next);
      document.getElementById(`tab-${next}`).focus();
    });
    tabs.append(tab);
    panels.append(panel);
  });
  const wanted = models.findIndex((model) => `#${model.name}` === decodeURIComponent(location.hash));
  if (models.length) select(Math.max(0, wanted));

  function select(k) {
    tabs.querySelectorAll("[role=tab]").forEach((tab, j) => {
      tab.setAttribute("aria-selected", String(j === k));
      tab.tabIndex = j === k ? 0 : -1;
    });
    panels.querySelectorAll("[role=tabpanel]").forEach((panel, j) => (panel.hidden = j !== k));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  input.value = sessionStorage.getItem(KEY) || "";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value) sessionStorage.setItem(KEY, input.value);
    else sessionStorage.removeItem(KEY);
    loadModels();
  });
  loadModels();
});
