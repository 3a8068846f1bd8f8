// Loom playground: a client of Loom's public HTTP API, nothing more. Every
// request goes through api() (JSON, the API key from session storage, the
// API's own error message shown on failure); streams (chat tokens, job
// events) are read with fetch so the key travels in a header.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY = "loom.apiKey";
const pages = ["chat", "image", "caption", "speech", "video", "jobs", "models"];

// ---------- errors and the API key ----------

class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "";
  }
}

function showError(err) {
  const box = $("error");
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  if (err.name === "AbortError") return;
  const msg = err instanceof APIError ? `${err.message}${err.code ? ` (${err.code}, HTTP ${err.status})` : ` (HTTP ${err.status})`}` : String(err.message || err);
  box.textContent = msg;
  box.hidden = false;
  if (err instanceof APIError && err.status === 401) askKey();
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const k = sessionStorage.getItem(KEY);
  if (k) h["Authorization"] = "Bearer " + k;
  return h;
}

async function api(method, path, body, opts) {
  opts = opts || {};
  const init = { method, headers: headers(body !== undefined ? { "Content-Type": "application/json" } : {}), signal: opts.signal };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (!res.ok) {
    let b = null;
    try { b = await res.json(); } catch (_) { /* not JSON */ }
    throw new APIError(res.status, b);
  }
  if (opts.raw) return res;
  if (opts.blob) return res.blob();
  const ct = res.headers.get("Content-Type") || "";
  return ct.includes("json") ? res.json() : res.text();
}

function askKey() {
  const d = $("key-dialog");
  if (d.open) return;
  $("key-input").value = "";
  d.showModal();
}

$("key-button").addEventListener("click", askKey);
$("key-dialog").addEventListener("close", () => {
  if ($("key-dialog").returnValue === "save") {
    const v = $("key-input").value.trim();
    if (v) sessionStorage.setItem(KEY, v); else sessionStorage.removeItem(KEY);
    showError(null);
    loadModels();
  }
});

// ---------- server-sent events over fetch ----------

// sse reads an SSE response body and calls onEvent(type, data) per event
// (data parsed as JSON when it is JSON). It resolves when the stream ends.
async function sse(res, onEvent) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i).replace(/^\r?\n\r?\n/, "");
      let type = "message";
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith(":")) continue;
        const c = line.indexOf(":");
        const field = c < 0 ? line : line.slice(0, c);
        const val = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
        if (field === "event") type = val;
        else if (field === "data") data.push(val);
      }
      if (!data.length) continue;
      const raw = data.join("\n");
      let parsed = raw;
      try { parsed = JSON.parse(raw); } catch (_) { /* plain text, e.g. [DONE] */ }
      if (onEvent(type, parsed) === false) { reader.cancel(); return; }
    }
  }
}

// ---------- models ----------

let models = [];

async function loadModels() {
  try {
    const r = await api("GET", "/v1/models");
    models = r.data || [];
  } catch (e) {
    showError(e);
    return;
  }
  for (const sel of document.querySelectorAll("select[data-task]")) {
    const task = sel.dataset.task;
    const prev = sel.value;
    sel.textContent = "";
    for (const m of models.filter((m) => (m.tasks || []).includes(task))) {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.ready ? m.id : `${m.id} (not ready)`;
      o.disabled = !m.ready;
      sel.append(o);
    }
    if (prev && [...sel.options].some((o) => o.value === prev)) sel.value = prev;
    if (!sel.options.length) {
      const o = document.createElement("option");
      o.value = "";
      o.textContent = "no model installed";
      sel.append(o);
    }
  }
  const hasVideo = models.some((m) => (m.tasks || []).includes("video.generate") && m.ready);
  $("video-none").hidden = hasVideo;
  $("video-go").disabled = !hasVideo;
  renderModels();
}

function renderModels() {
  const tb = $("models-table").tBodies[0];
  tb.textContent = "";
  for (const m of models) {
    const tr = tb.insertRow();
    cell(tr, m.id, "mono");
    cell(tr, (m.tasks || []).join(", "));
    const ready = cell(tr, m.ready ? "ready" : "not ready");
    ready.className = m.ready ? "ok" : "bad";
    cell(tr, String(m.workers ?? ""));
    cell(tr, m.queue_depth ? `${m.queue_depth} queued` : "");
    cell(tr, m.ready ? (m.description || "") : (m.missing || m.description || ""));
  }
}

function cell(tr, text, cls) {
  const td = tr.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

// ---------- navigation ----------

let jobsTimer = null;

function route() {
  const page = pages.includes(location.hash.slice(1)) ? location.hash.slice(1) : "chat";
  for (const p of pages) $("page-" + p).hidden = p !== page;
  for (const a of document.querySelectorAll("#nav a")) a.setAttribute("aria-current", a.dataset.page === page ? "page" : "false");
  clearInterval(jobsTimer);
  jobsTimer = null;
  if (page === "jobs") {
    refreshJobs();
    jobsTimer = setInterval(refreshJobs, 1000);
  }
  if (page === "models") loadModels();
}
window.addEventListener("hashchange", route);

// ---------- chat ----------

const chat = { messages: [], abort: null };

function chatBubble(role, text) {
  const d = document.createElement("div");
  d.className = "msg " + role;
  d.textContent = text;
  $("chat-log").append(d);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  return d;
}

$("chat-input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    $("chat-form").requestSubmit();
  }
});

$("chat-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text || chat.abort) return;
  showError(null);
  $("chat-input").value = "";
  chatBubble("user", text);
  chat.messages.push({ role: "user", content: text });
  const out = chatBubble("assistant", "");
  out.classList.add("streaming");
  const msgs = [];
  const sys = $("chat-system").value.trim();
  if (sys) msgs.push({ role: "system", content: sys });
  msgs.push(...chat.messages);
  chat.abort = new AbortController();
  $("chat-send").disabled = true;
  $("chat-stop").disabled = false;
  try {
    const res = await api("POST", "/v1/chat/completions", {
      model: $("chat-model").value || undefined, messages: msgs, stream: true,
      temperature: Number($("chat-temperature").value), max_tokens: Number($("chat-max-tokens").value),
    }, { raw: true, signal: chat.abort.signal });
    await sse(res, (type, data) => {
      if (type === "error" || (data && data.error)) throw new APIError(500, data && data.error ? data : { error: data });
      if (data === "[DONE]") return false;
      const d = data && data.choices && data.choices[0] && data.choices[0].delta;
      if (d && d.content) {
        out.textContent += d.content;
        $("chat-log").scrollTop = $("chat-log").scrollHeight;
      }
    });
  } catch (err) {
    if (err.name !== "AbortError") showError(err);
  } finally {
    out.classList.remove("streaming");
    chat.messages.push({ role: "assistant", content: out.textContent });
    chat.abort = null;
    $("chat-send").disabled = false;
    $("chat-stop").disabled = true;
  }
});

$("chat-stop").addEventListener("click", () => chat.abort && chat.abort.abort());

// ---------- jobs with live events (image, speech) ----------

function b64(buf) {
  let s = "";
  const bytes = new Uint8Array(buf);
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function blobURL(a) {
  const bin = atob(a.data);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return URL.createObjectURL(new Blob([bytes], { type: a.mime }));
}

// runJob submits a job and follows its events: onProgress(step, total),
// onPreview(dataURL). It resolves with the finished job (artifacts with
// their bytes) or throws the job's error.
async function runJob(req, hooks) {
  const job = await api("POST", "/v1/jobs", req);
  if (hooks.onStart) hooks.onStart(job);
  const res = await api("GET", `/v1/jobs/${job.id}/events`, undefined, { raw: true, signal: hooks.signal });
  let failure = null;
  await sse(res, (type, data) => {
    if (type === "progress" && hooks.onProgress) hooks.onProgress(data.step, data.total);
    else if (type === "preview" && hooks.onPreview) hooks.onPreview(`data:${data.mime};base64,${data.data}`);
    else if (type === "error") { failure = new APIError(data.code === "invalid_request" ? 400 : 500, { error: data }); return false; }
    else if (type === "canceled") { failure = new Error("canceled"); return false; }
    else if (type === "result") return false;
  });
  if (failure) throw failure;
  return api("GET", `/v1/jobs/${job.id}`);
}

// ---------- image ----------

const image = { source: null, jobID: null };

$("image-dice").addEventListener("click", () => { $("image-seed").value = Math.floor(Math.random() * 1e9); });

function setSource(dataURL) {
  image.source = dataURL;
  $("image-source").hidden = !dataURL;
  $("image-source-img").src = dataURL || "";
  $("image-go").textContent = dataURL ? "Edit" : "Generate";
}
$("image-source-clear").addEventListener("click", () => setSource(null));

$("image-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  const size = Number($("image-size").value);
  const params = {
    prompt: $("image-prompt").value, steps: Number($("image-steps").value),
    guidance_scale: Number($("image-guidance").value), n: Number($("image-n").value), preview_every: 2,
  };
  if ($("image-negative").value) params.negative_prompt = $("image-negative").value;
  if ($("image-scheduler").value) params.scheduler = $("image-scheduler").value;
  if (size) { params.width = size; params.height = size; }
  const req = { task: "image.generate", model: $("image-model").value || undefined, params, seed: Number($("image-seed").value) };
  if (image.source) {
    params.strength = Number($("image-strength").value);
    const [head, data] = image.source.split(",");
    req.inputs = [{ name: "image", mime: head.slice(5, head.indexOf(";")), data }];
  }
  $("image-go").disabled = true;
  $("image-cancel").disabled = false;
  $("image-progress").hidden = false;
  $("image-progress").value = 0;
  $("image-status").textContent = "queued";
  $("image-preview").dataset.count = 0;
  try {
    const job = await runJob(req, {
      onStart: (j) => { image.jobID = j.id; },
      onProgress: (s, t) => { $("image-progress").value = t ? s / t : 0; $("image-status").textContent = `step ${s} of ${t}`; },
      onPreview: (url) => {
        $("image-preview").hidden = false;
        $("image-preview-img").src = url;
        $("image-preview").dataset.count = Number($("image-preview").dataset.count || 0) + 1;
      },
    });
    for (const a of job.artifacts || []) addImage(blobURL(a), a.name, params.prompt, job, Number($("image-preview").dataset.count));
    $("image-status").textContent = "done";
  } catch (err) {
    if (err.message === "canceled") {
      $("image-status").textContent = "canceled";
    } else {
      showError(err);
      $("image-status").textContent = "failed";
    }
  } finally {
    image.jobID = null;
    $("image-go").disabled = false;
    $("image-cancel").disabled = true;
    $("image-progress").hidden = true;
    $("image-preview").hidden = true;
  }
});

$("image-cancel").addEventListener("click", async () => {
  if (!image.jobID) return;
  try { await api("DELETE", `/v1/jobs/${image.jobID}`); } catch (err) { showError(err); }
});

function addImage(url, name, prompt, job, previews) {
  const fig = document.createElement("figure");
  fig.className = "card";
  fig.dataset.previews = previews; // previews seen before this picture
  const img = document.createElement("img");
  img.src = url;
  img.alt = prompt;
  const cap = document.createElement("figcaption");
  cap.textContent = `${prompt} — seed ${job.seed}`;
  const bar = document.createElement("div");
  bar.className = "row";
  const dl = document.createElement("a");
  dl.href = url;
  dl.download = `${job.id}-${name}`;
  dl.textContent = "Download";
  const edit = button("Edit this image", async () => {
    setSource(await toDataURL(url));
    $("image-prompt").focus();
    scrollTo(0, 0);
  });
  const capt = button("Caption this image", async () => {
    location.hash = "#caption";
    captionImage(await toDataURL(url));
  });
  bar.append(dl, edit, capt);
  fig.append(img, cap, bar);
  $("image-gallery").prepend(fig);
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "ghost";
  b.textContent = text;
  b.addEventListener("click", () => onClick().catch(showError));
  return b;
}

async function toDataURL(url) {
  const blob = await (await fetch(url)).blob();
  return fileDataURL(blob);
}

function fileDataURL(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

// ---------- caption ----------

async function captionImage(dataURL) {
  showError(null);
  const fig = document.createElement("figure");
  fig.className = "card";
  const img = document.createElement("img");
  img.src = dataURL;
  img.alt = "image to caption";
  const cap = document.createElement("figcaption");
  cap.textContent = "captioning…";
  fig.append(img, cap);
  $("caption-results").prepend(fig);
  try {
    const r = await api("POST", "/v1/images/captions", { model: $("caption-model").value || undefined, image: dataURL });
    cap.textContent = r.caption;
    cap.className = "caption";
  } catch (err) {
    cap.textContent = err.message;
    cap.className = "bad";
    showError(err);
  }
}

async function captionFile(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) {
    showError(new Error(`${file.name || "that file"} is not an image`));
    return;
  }
  captionImage(await fileDataURL(file));
}

$("caption-file").addEventListener("change", (e) => captionFile(e.target.files[0]).catch(showError));
const drop = $("caption-drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  captionFile(e.dataTransfer.files[0]).catch(showError);
});
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("caption-file").click(); } });
document.addEventListener("paste", (e) => {
  if ($("page-caption").hidden) return;
  const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.type.startsWith("image/"));
  if (item) captionFile(item.getAsFile()).catch(showError);
});

// ---------- speech ----------

$("speech-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  $("speech-go").disabled = true;
  $("speech-progress").hidden = false;
  $("speech-progress").value = 0;
  $("speech-status").textContent = "queued";
  const text = $("speech-input").value;
  try {
    const job = await runJob({
      task: "audio.speech", model: $("speech-model").value || undefined,
      params: { input: text, voice: $("speech-voice").value, speed: Number($("speech-speed").value), format: "wav" },
    }, {
      onProgress: (s, t) => { $("speech-progress").value = t ? s / t : 0; $("speech-status").textContent = `sentence ${s} of ${t}`; },
    });
    const a = (job.artifacts || [])[0];
    if (!a) throw new Error("the job finished without audio");
    const url = blobURL(a);
    const div = document.createElement("div");
    div.className = "card";
    const p = document.createElement("p");
    p.textContent = `${$("speech-voice").value}: ${text}`;
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.src = url;
    const dl = document.createElement("a");
    dl.href = url;
    dl.download = `${job.id}.wav`;
    dl.textContent = "Download WAV";
    div.append(p, audio, dl);
    $("speech-results").prepend(div);
    $("speech-status").textContent = "done";
  } catch (err) {
    showError(err);
    $("speech-status").textContent = "failed";
  } finally {
    $("speech-go").disabled = false;
    $("speech-progress").hidden = true;
  }
});

// ---------- video ----------

$("video-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError(null);
  const body = { model: $("video-model").value || undefined, prompt: $("video-prompt").value, seconds: $("video-seconds").value, seed: Number($("video-seed").value) };
  const f = $("video-image").files[0];
  $("video-go").disabled = true;
  $("video-progress").hidden = false;
  $("video-progress").value = 0;
  $("video-status").textContent = "queued";
  try {
    if (f) body.input_reference = await fileDataURL(f);
    let v = await api("POST", "/v1/videos", body);
    while (v.status === "queued" || v.status === "in_progress") {
      await new Promise((r) => setTimeout(r, 500));
      v = await api("GET", `/v1/videos/${v.id}`);
      $("video-progress").value = v.progress || 0;
      $("video-status").textContent = `${v.status.replace("_", " ")} ${v.progress || 0}%`;
    }
    if (v.status !== "completed") throw new APIError(500, { error: v.error || { message: "the video failed" } });
    const mp4 = URL.createObjectURL(await api("GET", `/v1/videos/${v.id}/content`, undefined, { blob: true }));
    const gif = URL.createObjectURL(await api("GET", `/v1/videos/${v.id}/content?format=gif`, undefined, { blob: true }));
    const fig = document.createElement("figure");
    fig.className = "card";
    const vid = document.createElement("video");
    vid.src = mp4;
    vid.controls = true;
    vid.loop = true;
    vid.autoplay = true;
    vid.muted = true;
    vid.playsInline = true;
    const cap = document.createElement("figcaption");
    cap.textContent = `${v.prompt} — ${v.seconds} s, ${v.size}`;
    const bar = document.createElement("div");
    bar.className = "row";
    for (const [href, name, text] of [[mp4, `${v.id}.mp4`, "Download MP4"], [gif, `${v.id}.gif`, "Download GIF"]]) {
      const a = document.createElement("a");
      a.href = href;
      a.download = name;
      a.textContent = text;
      bar.append(a);
    }
    fig.append(vid, cap, bar);
    $("video-results").prepend(fig);
    $("video-status").textContent = "done";
  } catch (err) {
    showError(err);
    $("video-status").textContent = "failed";
  } finally {
    $("video-go").disabled = false;
    $("video-progress").hidden = true;
  }
});

// ---------- jobs ----------

async function refreshJobs() {
  let r;
  try {
    r = await api("GET", "/v1/jobs?limit=50");
  } catch (err) {
    showError(err);
    return;
  }
  const tb = $("jobs-table").tBodies[0];
  tb.textContent = "";
  for (const j of r.data || []) {
    const tr = tb.insertRow();
    tr.dataset.id = j.id;
    tr.dataset.status = j.status;
    cell(tr, j.id.slice(-8), "mono").title = j.id;
    cell(tr, j.task);
    cell(tr, j.model);
    const st = cell(tr, j.status, "status " + j.status);
    if (j.error) st.title = j.error.message;
    cell(tr, String(j.attempt));
    const pc = tr.insertCell();
    if (j.progress) {
      const p = document.createElement("progress");
      p.max = j.progress.total;
      p.value = j.progress.step;
      pc.append(p);
    }
    const act = tr.insertCell();
    act.append(button("Open", () => openJob(j.id)));
    if (j.status === "queued" || j.status === "running") {
      act.append(button("Cancel", async () => { await api("DELETE", `/v1/jobs/${j.id}`); refreshJobs(); }));
    }
  }
}

async function openJob(id) {
  const j = await api("GET", `/v1/jobs/${id}`);
  const d = $("job-detail");
  d.hidden = false;
  d.textContent = "";
  const h = document.createElement("h2");
  h.textContent = `${j.task} ${j.id}: ${j.status}`;
  d.append(h);
  if (j.error) {
    const p = document.createElement("p");
    p.className = "bad";
    p.textContent = `${j.error.code}: ${j.error.message}`;
    d.append(p);
  }
  if (j.output) {
    const pre = document.createElement("pre");
    pre.textContent = JSON.stringify(j.output, null, 2);
    d.append(pre);
  }
  for (const a of j.artifacts || []) {
    const url = blobURL(a);
    let el;
    if (a.mime.startsWith("image/")) { el = document.createElement("img"); el.alt = a.name; }
    else if (a.mime.startsWith("audio/")) { el = document.createElement("audio"); el.controls = true; }
    else if (a.mime.startsWith("video/")) { el = document.createElement("video"); el.controls = true; }
    if (el) { el.src = url; d.append(el); }
    const link = document.createElement("a");
    link.href = url;
    link.download = a.name;
    link.textContent = `${a.name} (${a.mime}, ${a.size} bytes)`;
    d.append(link);
  }
}

// ---------- start ----------

route();
loadModels();
