// latentedit serve: the page. Plain JS, no dependencies, nothing fetched from outside this server.
"use strict";
const $ = (id) => document.getElementById(id);
const page = Array.from(crypto.getRandomValues(new Uint8Array(8)), (b) => b.toString(16).padStart(2, "0")).join("");
let info = null, item = null, condition = null, seq = 0, shownSeq = -1;

function showError(msg) { $("message").textContent = msg; $("message").hidden = false; }
function clearError() { $("message").hidden = true; $("message").textContent = ""; }
function status(msg) { $("status").textContent = msg; }

async function api(url, options) {
  const res = await fetch(url, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}
const postJSON = (url, data) => api(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(data)});

function method() { return info.methods.find((m) => m.name === $("method").value); }

function amounts() {
  const out = {};
  for (const s of document.querySelectorAll("#sliders input[type=range]")) out[s.dataset.attr] = parseFloat(s.value);
  return out;
}

function buildSliders() {
  const box = $("sliders");
  box.textContent = "";
  for (const name of method().attributes) {
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("label");
    label.textContent = name;
    label.htmlFor = `slider-${name}`;
    const input = Object.assign(document.createElement("input"),
                                {type: "range", id: `slider-${name}`, min: -2, max: 2, step: 0.1, value: 0});
    input.dataset.attr = name;
    const out = document.createElement("output");
    out.textContent = "0.0";
    input.addEventListener("input", () => { out.textContent = parseFloat(input.value).toFixed(1); requestEdit(); });
    row.append(label, input, out);
    box.append(row);
  }
  const m = method();
  $("multimodal").hidden = m.condition === "none";
  $("reference-box").hidden = !m.reference;
  $("row").textContent = "";
  $("reference-image").removeAttribute("src");
  condition = null;
}

function setLink(id, href) {
  const a = $(id);
  if (href) { a.href = href; a.removeAttribute("aria-disabled"); } else { a.removeAttribute("href"); a.setAttribute("aria-disabled", "true"); }
}

function setItem(it) {
  item = it;
  $("recon").src = it.recon;
  if (it.aligned) $("aligned").src = it.aligned; else $("aligned").removeAttribute("src");
  const e = it.error;
  $("recon-error").textContent = e ? `reconstruction error: MSE ${e.mse.toFixed(4)}, PSNR ${e.psnr.toFixed(1)} dB`
                                   + (it.cached ? " (cached)" : "") : it.label;
  $("row").textContent = "";
  condition = null;
  requestEdit();
}

async function requestEdit() {
  if (!item) return;
  const mine = ++seq;
  status(`rendering edit ${mine}…`);
  try {
    const r = await postJSON("/api/edit", {item_id: item.item_id, page, seq: mine, method: method().name,
                                           amounts: amounts(), condition});
    if (r.status !== "ok" || r.seq < shownSeq) return;  // dropped as stale, or overtaken by a newer answer
    shownSeq = r.seq;
    clearError();
    $("preview").src = r.face;
    $("preview").dataset.seq = String(r.seq);
    if (r.pasted_url) $("pasted").src = r.pasted_url; else $("pasted").removeAttribute("src");
    setLink("download-face", r.face_url);
    setLink("download-pasted", r.pasted_url);
    setLink("download-latent", r.latent_url);
    status(`edit ${r.seq} shown`);
  } catch (err) { showError(err.message); }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("align", $("align").checked ? "true" : "false");
  clearError();
  $("progress-box").hidden = false;
  try {
    let job = await api("/api/invert", {method: "POST", body: form});
    while (job.state === "queued" || job.state === "running") {
      $("progress").value = job.progress;
      $("stage").textContent = job.stage;
      await sleep(150);
      job = await api(`/api/jobs/${job.job_id}`);
    }
    $("progress").value = 1;
    $("stage").textContent = job.state === "done" ? (job.item.cached ? "done (cached)" : "done") : "failed";
    if (job.state !== "done") throw new Error(job.message);
    setItem(job.item);
  } catch (err) { showError(err.message); }
}

async function sampleSeed() {
  clearError();
  try { setItem(await postJSON("/api/sample", {seed: parseInt($("seed").value || "0", 10)})); }
  catch (err) { showError(err.message); }
}

async function sampleRow() {
  if (!item) return showError("choose a photo or a seed first");
  try {
    const r = await postJSON("/api/samples", {item_id: item.item_id, method: method().name, amounts: amounts(),
                                              n: parseInt($("row-n").value, 10), mode: $("row-mode").value});
    const row = $("row");
    row.textContent = "";
    r.images.forEach((src, index) => {
      const img = Object.assign(document.createElement("img"), {src, alt: `sample ${index + 1}`, title: "use this sample"});
      img.addEventListener("click", () => {
        for (const o of row.children) o.classList.remove("picked");
        img.classList.add("picked");
        condition = {row_id: r.row_id, index};
        requestEdit();
      });
      row.append(img);
    });
  } catch (err) { showError(err.message); }
}

async function reference() {
  const file = $("reference").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("method", method().name);
  try {
    const r = await api("/api/reference", {method: "POST", body: form});
    $("reference-image").src = r.image;
    condition = {ref_id: r.ref_id};
    requestEdit();
  } catch (err) { showError(err.message); }
}

async function init() {
  for (const id of ["download-face", "download-pasted", "download-latent"]) setLink(id, null);
  try { info = await api("/api/info"); } catch (err) { return showError(err.message); }
  for (const m of info.methods) $("method").append(new Option(m.name, m.name));
  $("row-n").max = info.limits.max_samples;
  if (!info.photos) { $("upload").disabled = true; showError(`photo upload is off: ${info.encoder_note}`); }
  buildSliders();
  $("method").addEventListener("change", () => { buildSliders(); requestEdit(); });
  $("upload").addEventListener("change", upload);
  $("sample-seed").addEventListener("click", sampleSeed);
  $("sample-row").addEventListener("click", sampleRow);
  $("reference").addEventListener("change", reference);
  $("reset").addEventListener("click", () => {
    for (const s of document.querySelectorAll("#sliders input[type=range]")) { s.value = 0; s.nextSibling.textContent = "0.0"; }
    requestEdit();
  });
  status(`ready: ${info.resolution}px generator, ${info.methods.length} method(s)`);
  document.body.dataset.ready = "1";
}
init();
