// openclap web page: search the index (text or example clip), play hits from their window, classify clips.
// Plain DOM code; every value from the server is shown with textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  const s = seconds - 60 * m;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function call(url, options) {
  let response;
  try {
    response = await fetch(url, options);
  } catch (err) {
    throw new Error(`the server did not answer (${err.message})`);
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${response.status} ${response.statusText}`);
  return body;
}

async function loadStatus() {
  try {
    const health = await call("/health");
    const index = health.index ? `${health.index.items} indexed windows` : "no index loaded (search is off)";
    $("status").textContent = `model ${health.model} · ${index}`;
    document.body.dataset.ready = "true";
    if (!health.index) $("search-card").classList.add("disabled");
  } catch (err) {
    $("status").textContent = err.message;
  }
}

function renderHits(hits) {
  const list = $("results");
  list.replaceChildren();
  hits.forEach((hit, i) => list.append(hitRow(hit, i + 1)));
}

function hitRow(hit, rank) {
  const row = el("li", "hit");
  row.dataset.itemId = hit.item_id;
  row.dataset.start = hit.start_seconds;
  const parts = hit.path.split("/");
  const info = el("div");
  info.append(el("div", "name", parts.pop()), el("div", "where", parts.join("/") || "/"));
  const meta = el("div", "meta");
  const bar = el("div", "score-bar");
  const fill = el("span");
  fill.style.width = `${Math.max(0, Math.min(1, hit.score)) * 100}%`;
  bar.append(fill);
  meta.append(el("span", "", `${clock(hit.start_seconds)}–${clock(hit.end_seconds)}`), bar,
              el("span", "muted", hit.score.toFixed(3)));
  info.append(meta);
  const audio = el("audio");
  audio.controls = true;
  audio.preload = "none";
  audio.src = `${hit.audio_url}#t=${hit.start_seconds},${hit.end_seconds}`;
  const play = el("button", "play", `▶ ${clock(hit.start_seconds)}`);
  play.type = "button";
  play.addEventListener("click", () => playFrom(audio, hit.start_seconds));
  const player = el("div", "player");
  player.append(play, audio);
  row.append(el("span", "rank", String(rank)), info, player);
  return row;
}

function playFrom(audio, start) {
  document.querySelectorAll("#results audio").forEach((other) => { if (other !== audio) other.pause(); });
  const seekAndPlay = () => { audio.currentTime = start; audio.play().catch((err) => showError(err.message)); };
  if (audio.readyState >= 1) seekAndPlay();
  else {
    audio.addEventListener("loadedmetadata", seekAndPlay, { once: true });
    audio.preload = "auto";
    audio.load();
  }
}

async function runSearch(request, label) {
  showError("");
  $("search-button").disabled = true;
  $("search-info").textContent = "searching…";
  try {
    const body = await call(request.url, request.options);
    $("search-info").textContent = body.hits.length
      ? `${body.hits.length} hits for “${body.query}”` : `nothing found for “${body.query}”`;
    renderHits(body.hits);
  } catch (err) {
    $("search-info").textContent = "";
    showError(`${label}: ${err.message}`);
  } finally {
    $("search-button").disabled = false;
  }
}

function searchByText(event) {
  event.preventDefault();
  const params = new URLSearchParams({ q: $("query").value, top_k: $("top-k").value });
  if ($("prefix").value.trim()) params.set("prefix", $("prefix").value.trim());
  runSearch({ url: `/search?${params}` }, "search");
}

function searchByExample(file) {
  const form = new FormData();
  form.append("file", file);
  form.append("top_k", $("top-k").value);
  if ($("prefix").value.trim()) form.append("prefix", $("prefix").value.trim());
  runSearch({ url: "/search", options: { method: "POST", body: form } }, `search by ${file.name}`);
}

async function classify(file) {
  showError("");
  const form = new FormData();
  form.append("file", file);
  form.append("labels", $("labels").value);
  $("classify-info").textContent = `classifying ${file.name}…`;
  $("predictions").replaceChildren();
  try {
    const body = await call("/classify", { method: "POST", body: form });
    $("classify-info").textContent = `${body.file} · ${body.duration_seconds.toFixed(1)} s`
      + (body.warning ? ` · ${body.warning}` : "");
    body.predictions.forEach((p) => $("predictions").append(predictionRow(p)));
  } catch (err) {
    $("classify-info").textContent = "";
    showError(`classify ${file.name}: ${err.message}`);
  }
}

function predictionRow(prediction) {
  const row = el("li", "prediction");
  const bar = el("div", "bar");
  const fill = el("span");
  fill.style.width = `${Math.max(0, Math.min(1, prediction.score)) * 100}%`;
  bar.append(fill);
  row.append(el("span", "label", prediction.label), bar,
             el("span", "value", `${(100 * prediction.score).toFixed(1)} %`));
  return row;
}

function setupDropZone() {
  const zone = $("drop-zone");
  const input = $("file-input");
  zone.addEventListener("click", () => input.click());
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  input.addEventListener("change", () => { if (input.files.length) classify(input.files[0]); input.value = ""; });
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) classify(e.dataTransfer.files[0]);
  });
}

$("search-form").addEventListener("submit", searchByText);
$("example-input").addEventListener("change", (e) => {
  if (e.target.files.length) searchByExample(e.target.files[0]);
  e.target.value = "";
});
setupDropZone();
loadStatus();
