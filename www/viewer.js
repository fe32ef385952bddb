// Page logic of the viewer: loading files (picker, drag-and-drop, bundled examples), playback on
// a timeline, hover read-out and PNG export. The wasm module (web/src/app.rs) parses and draws.

const $ = (id) => document.getElementById(id);
const ui = {
  file: $('file'), example: $('example'), title: $('title'), canvas: $('viewer'),
  tooltip: $('tooltip'), dropHint: $('drop-hint'), play: $('play'), timeline: $('timeline'),
  frameLabel: $('frame-label'), speed: $('speed'), images: $('images'), colorBy: $('color-by'),
  reset: $('reset'), exportBtn: $('export'), info: $('info'), error: $('file-error'),
};
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

async function loadBytes(name, bytes) {
  stop();
  try {
    showInfo(wasm.load_file(name, bytes));
    showError('');
  } catch (e) {
    showError(`Could not read ${e.message ?? e}`);
  }
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
}

wasm = await ready();
wire();
showInfo(document.body.dataset.frame);
document.body.dataset.uiReady = '1';
