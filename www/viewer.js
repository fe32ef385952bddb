// Page logic of the viewer: loading files (picker, drag-and-drop, bundled examples), playback on
// a timeline, hover read-out and PNG export. The wasm module (web/src/app.rs) parses and draws.

const $ = (id) => document.getElementById(id);
const ui = {
  file: $('file'), example: $('example'), title: $('title'), canvas: $('viewer'),
  tooltip: $('tooltip'), dropHint: $('drop-hint'), play: $('play'), timeline: $('timeline'),
  frameLabel: $('frame-label'), speed: $('speed'), images: $('images'), colorBy: $('color-by'),
  reset: $('reset'), exportBtn: $('export'), info: $('info'), error: $('file-error'),
  modelInfo: $('model-info'), paste: $('paste'), pasteFormat: $('paste-format'),
  predictPaste: $('predict-paste'), predictions: $('predictions'), predictHead: $('predict-head'),
  predictTime: $('predict-time'), predictError: $('predict-error'), predictBackend: $('predict-backend'),
  genInfo: $('gen-info'), genAtoms: $('gen-atoms'), genSeed: $('gen-seed'), genEvery: $('gen-every'),
  genRun: $('gen-run'), genStop: $('gen-stop'), genBackend: $('gen-backend'), genStatus: $('gen-status'), genResult: $('gen-result'),
};
// The shipped UniGEM model (models/unigem-small), run by generate-worker.js.
const GEN_MODEL_DIR = 'unigem-small';
// The shipped fine-tuned model (models/ct-qm9-homo-small, copied next to the page by trunk).
const MODEL_DIR = 'ct-qm9-homo-small';
// The property model as loaded on each backend ('cpu', 'webgpu'): its description from wasm.
const models = {};
let model = null; // the one predictions use now (ui.predictBackend picks it)
let predictions = 0;
let predictChain = Promise.resolve();
let wasm = null;
let playing = false;
let lastStep = 0;

function ready() {
  return new Promise((resolve) => {
    const check = () => {
      if (window.wasmBindings && document.body.dataset.ready === '1') resolve(window.wasmBindings);
      else if (document.body.dataset.error) return;
      else setTimeout(check, 20);
    };
    check();
  });
}

function showInfo(json) {
  const f = JSON.parse(json);
  document.body.dataset.frame = json;
  ui.title.textContent = `${f.name} — ${f.formula}, ${f.atoms} atoms, ${f.bonds} bonds${f.periodic ? ', periodic' : ''}`;
  ui.frameLabel.textContent = `frame ${f.frame + 1} / ${f.frames}`;
  ui.timeline.max = String(Math.max(0, f.frames - 1));
  ui.timeline.value = String(f.frame);
  const many = f.frames > 1;
  ui.timeline.disabled = !many;
  ui.play.disabled = !many;
  ui.colorBy.querySelector('option[value=type]').disabled = !f.has_types;
  ui.info.textContent = f.labels;
}

function showError(message) {
  ui.error.textContent = message;
  ui.error.hidden = !message;
  document.body.dataset.fileError = message;
}

// What the reader accepted but could not represent exactly (e.g. a CIF's partial
// occupancies): shown with the file, not as an error.
function showNotes(notes) {
  document.body.dataset.fileNotes = notes.join('\n');
  if (!notes.length) return;
  ui.error.textContent = `Note: ${notes.join('; ')}`;
  ui.error.hidden = false;
}

async function loadBytes(name, bytes) {
  stop();
  try {
    const info = wasm.load_file(name, bytes);
    showInfo(info);
    showError('');
    showNotes(JSON.parse(info).notes ?? []);
  } catch (e) {
    showError(`Could not read ${e.message ?? e}`);
  }
  predictBytes(name, bytes, 20);
}

function showPredictError(message) {
  ui.predictError.textContent = message;
  ui.predictError.hidden = !message;
  if (message) document.body.dataset.predictError = message;
  else delete document.body.dataset.predictError;
}

// Predict the shipped model's property for every structure of a file, in WebAssembly, on the
// chosen backend. Predictions are asynchronous (a GPU result is read back without blocking the
// page) and run one after another, so the table always shows the last file asked for.
function predictBytes(name, bytes, limit = 1000) {
  if (!model) return predictChain;
  const backend = model.backend_key;
  predictChain = predictChain.then(() => predictNow(name, bytes, limit, backend));
  return predictChain;
}

async function predictNow(name, bytes, limit, backend) {
  let p;
  try {
    p = JSON.parse(await wasm.predict_file(name, bytes, limit, backend));
  } catch (e) {
    ui.predictions.hidden = true;
    showPredictError(`Could not predict ${e.message ?? e}`);
    predictions += 1;
    document.body.dataset.predictions = String(predictions);
    return;
  }
  showPredictError('');
  const unit = p.unit ?? '';
  ui.predictHead.textContent = `${p.target} (${unit})`;
  const body = ui.predictions.querySelector('tbody');
  body.replaceChildren(...p.results.slice(0, 200).map((r) => {
    const tr = document.createElement('tr');
    for (const v of [r.index + 1, r.formula, r.atoms, r.value.toFixed(3)]) {
      const td = document.createElement('td');
      td.textContent = String(v);
      tr.append(td);
    }
    return tr;
  }));
  ui.predictions.hidden = false;
  const more = p.skipped ? ` (first ${p.results.length}; ${p.skipped} more not predicted)` : '';
  ui.predictTime.textContent = `${p.file}: ${p.results.length} structure(s)${more} in ${p.ms.toFixed(0)} ms ` +
    `(${p.ms_per_structure.toFixed(1)} ms each, ${p.backend})`;
  document.body.dataset.prediction = JSON.stringify(p);
  predictions += 1;
  document.body.dataset.predictions = String(predictions);
}

function showModel() {
  const mae = model.val_mae == null ? 'n/a' : `${(model.val_mae * 1000).toFixed(0)} m${model.unit}`;
  ui.modelInfo.textContent = `Model ${model.name}: ${model.target} (${model.unit}), validation MAE ` +
    `${mae}, ${model.params.toLocaleString()} parameters, ${model.steps} steps — on ${model.backend}`;
  document.body.dataset.model = JSON.stringify(model);
}

// Loads the property model on the CPU (always) and, where the browser has WebGPU, on WebGPU too,
// which then becomes the default; the selector switches between them.
async function loadModel() {
  let files;
  try {
    const get = async (f) => {
      const r = await fetch(`${MODEL_DIR}/${f}`);
      if (!r.ok) throw new Error(`${MODEL_DIR}/${f}: HTTP ${r.status}`);
      return r;
    };
    files = await Promise.all([
      get('config.toml').then((r) => r.text()), get('meta.json').then((r) => r.text()),
      get('weights.bin').then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
    ]);
  } catch (e) {
    ui.modelInfo.textContent = `The property model could not load: ${e.message ?? e}`;
    document.body.dataset.modelError = String(e.message ?? e);
    return;
  }
  const status = {};
  for (const backend of navigator.gpu ? ['webgpu', 'cpu'] : ['cpu']) {
    try {
      models[backend] = JSON.parse(await wasm.load_property_model(...files, backend));
      status[backend] = 'loaded';
      ui.predictBackend.querySelector(`option[value=${backend}]`).disabled = false;
    } catch (e) {
      status[backend] = String(e.message ?? e);
      console.warn(`property model on ${backend}: ${status[backend]}`);
    }
  }
  if (!navigator.gpu) status.webgpu = 'this browser has no WebGPU';
  document.body.dataset.modelBackends = JSON.stringify(status);
  model = models.webgpu ?? models.cpu ?? null;
  if (!model) {
    ui.modelInfo.textContent = `The property model could not load: ${status.cpu}`;
    document.body.dataset.modelError = status.cpu;
    return;
  }
  ui.predictBackend.value = model.backend_key;
  ui.predictBackend.title = status.webgpu === 'loaded' ? '' : `WebGPU: ${status.webgpu}`;
  showModel();
}

async function loadUrl(url) {
  const response = await fetch(url);
  if (!response.ok) { showError(`Could not fetch ${url}: HTTP ${response.status}`); return; }
  await loadBytes(url.split('/').pop(), new Uint8Array(await response.arrayBuffer()));
}

function stop() {
  playing = false;
  ui.play.textContent = '▶ Play';
}

function tick(now) {
  if (!playing) return;
  const fps = Number(ui.speed.value);
  if (now - lastStep >= 1000 / fps) {
    lastStep = now;
    const n = wasm.frame_count();
    const next = (Number(ui.timeline.value) + 1) % n;
    showInfo(wasm.show_frame(next));
  }
  requestAnimationFrame(tick);
}

function wire() {
  ui.file.addEventListener('change', async () => {
    const f = ui.file.files[0];
    if (f) await loadBytes(f.name, new Uint8Array(await f.arrayBuffer()));
    ui.file.value = '';
  });
  ui.example.addEventListener('change', async () => {
    if (ui.example.value) await loadUrl(ui.example.value);
  });
  const stage = $('stage');
  stage.addEventListener('dragover', (e) => { e.preventDefault(); ui.dropHint.hidden = false; });
  stage.addEventListener('dragleave', () => { ui.dropHint.hidden = true; });
  stage.addEventListener('drop', async (e) => {
    e.preventDefault();
    ui.dropHint.hidden = true;
    const f = e.dataTransfer.files[0];
    if (f) await loadBytes(f.name, new Uint8Array(await f.arrayBuffer()));
  });
  ui.play.addEventListener('click', () => {
    playing = !playing;
    ui.play.textContent = playing ? '⏸ Pause' : '▶ Play';
    if (playing) requestAnimationFrame(tick);
  });
  ui.timeline.addEventListener('input', () => showInfo(wasm.show_frame(Number(ui.timeline.value))));
  const view = () => showInfo(wasm.set_view(ui.images.checked, ui.colorBy.value === 'type'));
  ui.images.addEventListener('change', view);
  ui.colorBy.addEventListener('change', view);
  ui.reset.addEventListener('click', () => wasm.reset_camera());
  ui.exportBtn.addEventListener('click', () => {
    wasm.redraw(); // draw and read back in the same task, before the browser clears the buffer
    const url = ui.canvas.toDataURL('image/png');
    document.body.dataset.exportBytes = String(Math.round((url.length - 22) * 3 / 4));
    const a = document.createElement('a');
    const f = JSON.parse(document.body.dataset.frame);
    a.href = url;
    a.download = `${f.name.replace(/\.[^.]*$/, '')}-frame${f.frame + 1}.png`;
    a.click();
  });
  ui.canvas.addEventListener('pointermove', (e) => {
    if (e.buttons) { ui.tooltip.hidden = true; return; }
    const r = ui.canvas.getBoundingClientRect();
    const hit = JSON.parse(wasm.atom_at(e.clientX - r.left, e.clientY - r.top, r.width, r.height));
    if (!hit) { ui.tooltip.hidden = true; delete document.body.dataset.hover; return; }
    ui.tooltip.textContent = `${hit.element} #${hit.index}${hit.image ? ' (image)' : ''}  ` +
      `(${hit.x.toFixed(3)}, ${hit.y.toFixed(3)}, ${hit.z.toFixed(3)}) Å`;
    ui.tooltip.style.left = `${e.clientX - r.left + 14}px`;
    ui.tooltip.style.top = `${e.clientY - r.top + 14}px`;
    ui.tooltip.hidden = false;
    document.body.dataset.hover = JSON.stringify(hit);
  });
  ui.canvas.addEventListener('pointerleave', () => { ui.tooltip.hidden = true; });
  ui.predictBackend.addEventListener('change', () => {
    model = models[ui.predictBackend.value] ?? model;
    if (model) showModel();
  });
  ui.predictPaste.addEventListener('click', () => {
    const text = ui.paste.value;
    if (!text.trim()) { showPredictError('Paste a file first'); return; }
    predictBytes(`pasted.${ui.pasteFormat.value}`, new TextEncoder().encode(text));
  });
}

// Live generation: a Web Worker runs the sampler (generate-worker.js) and posts each state; the
// page appends it to the viewer's frames. A timer counts main-thread ticks while it runs, as a
// responsiveness check (the browser test reads it).
let worker = null;
let genInfo = null;
let genFrames = 0;
let genTicks = 0;
let genTimer = null;
let genActive = false; // frames arriving after Stop (already in flight) are dropped

function genFinished() {
  genActive = false;
  clearInterval(genTimer);
  ui.genRun.disabled = false;
  ui.genStop.disabled = true;
  document.body.dataset.genTicks = String(genTicks);
}

function onWorkerMessage(e) {
  const m = e.data;
  if (m.type === 'ready') {
    genInfo = m.info;
    for (const [key, status] of Object.entries(m.info.backends)) {
      const option = ui.genBackend.querySelector(`option[value=${key}]`);
      option.disabled = status !== 'loaded';
      if (status !== 'loaded') option.title = status;
    }
    ui.genBackend.value = m.info.backend_key;
    ui.genInfo.textContent = `Model ${GEN_MODEL_DIR}: UniGEM trained ${m.info.steps_trained} steps, ` +
      `predicts ${m.info.property} (${m.info.unit}); ${m.info.sizes[0]}–${m.info.sizes[1]} atoms — ` +
      `in a Web Worker on ${m.info.backend}` +
      (m.info.backends.webgpu === 'loaded' ? '; WebGPU also loaded (run on)' : '');
    ui.genRun.disabled = false;
    document.body.dataset.genModel = JSON.stringify(m.info);
  } else if (m.type === 'started') {
    ui.genStatus.textContent = `${m.atoms} atoms: sampling on ${m.backend}…`;
  } else if (m.type === 'frame' || m.type === 'done') {
    if (!genActive) return;
    stop();
    showInfo(wasm.append_frames('generated.extxyz', new TextEncoder().encode(m.xyz), genFrames === 0));
    genFrames += 1;
    document.body.dataset.genFrames = String(genFrames);
    // The first frames of a run, for the browser test's backend comparison.
    if (genFrames <= 8) {
      const early = genFrames === 1 ? [] : JSON.parse(document.body.dataset.genEarly ?? '[]');
      early.push({ t: m.t, xyz: m.xyz, ms: m.ms, backend_key: m.backend_key });
      document.body.dataset.genEarly = JSON.stringify(early);
    }
    ui.genStatus.textContent = `t = ${m.t} / ${m.steps} · ${genFrames} frames · ${(m.ms / 1000).toFixed(1)} s`;
    if (m.type === 'done') {
      // Frame the finished molecule (the view was set on the compact start and only widened).
      wasm.fit_camera();
      document.body.dataset.genInView = String(wasm.frame_in_view());
      const verdict = m.stable ? 'stable' : `not stable (${m.stable_atoms} of ${m.atoms} atoms stable)`;
      ui.genResult.textContent = `${m.formula}: predicted ${genInfo.property} ${m.property.toFixed(3)} ` +
        `${genInfo.unit}; EDM ${verdict}; ${m.valid ? 'valid' : 'not valid'} valences — ` +
        `${m.steps} steps in ${(m.ms / 1000).toFixed(1)} s on ${m.backend}`;
      document.body.dataset.generated = JSON.stringify({ ...m, frames: genFrames, xyz: undefined });
      genFinished();
    }
  } else if (m.type === 'error') {
    ui.genStatus.textContent = '';
    ui.genResult.textContent = `Generation failed: ${m.message}`;
    if (!genInfo) ui.genInfo.textContent = `The generation model could not load: ${m.message}`;
    document.body.dataset.genError = m.message;
    genFinished();
  }
}

function startGenerator() {
  // The glue and module trunk built (hashed names), as preloaded by the page.
  const glue = document.querySelector('link[rel=modulepreload]')?.href;
  const module = document.querySelector('link[rel=preload][as=fetch]')?.href;
  if (!glue || !module) { ui.genInfo.textContent = 'Generation needs the trunk-built page.'; return; }
  worker = new Worker('generate-worker.js', { type: 'module' });
  worker.onmessage = onWorkerMessage;
  worker.onerror = (e) => onWorkerMessage({ data: { type: 'error', message: e.message ?? 'worker error' } });
  worker.postMessage({ type: 'init', glue, wasm: module, modelDir: new URL(GEN_MODEL_DIR, location.href).href });
  ui.genRun.addEventListener('click', () => {
    genFrames = 0;
    genTicks = 0;
    document.body.dataset.genFrames = '0';
    delete document.body.dataset.generated;
    ui.genResult.textContent = '';
    ui.genRun.disabled = true;
    ui.genStop.disabled = false;
    genActive = true;
    delete document.body.dataset.genStopped;
    genTimer = setInterval(() => { genTicks += 1; }, 50);
    worker.postMessage({
      type: 'generate', atoms: Number(ui.genAtoms.value), seed: Math.max(0, Math.floor(Number(ui.genSeed.value) || 0)),
      steps: 1000, every: Number(ui.genEvery.value), backend: ui.genBackend.value,
    });
  });
  ui.genStop.addEventListener('click', () => {
    worker.postMessage({ type: 'cancel' });
    ui.genStatus.textContent += ' · stopped';
    document.body.dataset.genStopped = String(genFrames);
    genFinished();
  });
}

wasm = await ready();
wire();
showInfo(document.body.dataset.frame);
document.body.dataset.uiReady = '1';
startGenerator();
await loadModel();
const bundled = await fetch('assets/molecule.xyz');
if (bundled.ok) predictBytes('molecule.xyz', new Uint8Array(await bundled.arrayBuffer()));
