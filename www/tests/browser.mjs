// Headless-Chromium test of the built page (www/dist): serves it on 127.0.0.1, waits for the
// wasm module's ready flag, and checks that the canvas shows the bundled molecule's colours
// (O red, N blue, C grey, H white) and that dragging rotates it. Runs once with WebGPU enabled
// and once with WebGPU off (WebGL2). The WebGPU mode must come up on WebGPU (SwiftShader here):
// a fallback to WebGL2 there is a failure, not a skip.
//
// The page's HOMO prediction is compared with the native `nucleate predict` on the same model and
// molecule: the binary is $NUCLEATE_BIN, else $CARGO_TARGET_DIR/debug/nucleate (the test stage of
// scripts/check.sh builds it).
//
// Usage: node tests/browser.mjs [dist-dir]   (Chromium at /usr/bin/chromium or $CHROMIUM)

import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import http from 'node:http';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(here, '..', 'dist'));
const shots = path.join(here, 'screenshots');
fs.mkdirSync(shots, { recursive: true });

// Tolerances, each with its reason. The page runs the same f32 model as the native CLI (burn's
// ndarray in wasm, or WebGPU): summation order is all that differs, and on the bundled molecule
// the backends were seen to agree to 2e-5 eV (README); 1e-4 eV leaves a 5x margin and is still
// 100x below the model's test MAE. The sampler's coordinates after 20 steps agreed to 3e-6 Å;
// 3e-5 Å leaves a 10x margin and is far below any bond-length scale (0.1 Å).
const HOMO_AGREE_EV = 1e-4;
const GEN_AGREE_ANGSTROM = 3e-5;
// Training: the same f32 steps on both backends; after 8 AdamW steps summation-order
// differences grow but stay far below the loss's own change per step (percents).
const TRAIN_AGREE = 1e-3;

// The native prediction for the bundled molecule with the shipped model.
function nativeHomo() {
  const repo = path.resolve(here, '..', '..');
  const target = process.env.CARGO_TARGET_DIR ?? path.join(os.homedir(), '.cache', 'nucleate-target');
  const bin = process.env.NUCLEATE_BIN ?? path.join(target, 'debug', 'nucleate');
  if (!fs.existsSync(bin)) throw new Error(`native binary ${bin} not found: build it (cargo build -p nucleate) or set NUCLEATE_BIN`);
  const out = execFileSync(bin, ['predict', '--model', path.join(repo, 'models', 'ct-qm9-homo-small'),
    path.join(repo, 'www', 'assets', 'molecule.xyz'), '--json'], { encoding: 'utf8' });
  const value = JSON.parse(out)[0]?.homo;
  if (!Number.isFinite(value)) throw new Error(`native predict printed ${out}`);
  return value;
}
const NATIVE_HOMO = nativeHomo();

const MIME = {
  '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.xyz': 'text/plain', '.json': 'application/json', '.png': 'image/png',
};

function serve(root) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    let file = path.normalize(path.join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    fs.readFile(file, (err, data) => {
      if (err) { res.writeHead(404).end('not found'); return; }
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' });
      res.end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// Classify a pixel (sRGB bytes) by the element colour it shows, after lighting.
function classify(r, g, b) {
  if (r > 120 && g < 0.35 * r && b < 0.35 * r) return 'O';
  if (b > 120 && r < 0.6 * b && g < 0.75 * b) return 'N';
  const max = Math.max(r, g, b), min = Math.min(r, g, b);
  if (max - min < 18 && max >= 200) return 'H';
  if (max - min < 18 && max >= 70 && max < 190) return 'C';
  return null;
}

function tally(png) {
  const counts = { O: 0, N: 0, C: 0, H: 0 };
  for (let i = 0; i < png.data.length; i += 4) {
    const k = classify(png.data[i], png.data[i + 1], png.data[i + 2]);
    if (k) counts[k] += 1;
  }
  return counts;
}

function differingPixels(a, b) {
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (Math.abs(a.data[i] - b.data[i]) + Math.abs(a.data[i + 1] - b.data[i + 1]) + Math.abs(a.data[i + 2] - b.data[i + 2]) > 30) n += 1;
  }
  return n;
}

const frameOf = (page) => page.evaluate(() => JSON.parse(document.body.dataset.frame));
const shot = async (page, name) => PNG.sync.read(await page.locator('#viewer').screenshot({ path: path.join(shots, name) }));

// The trajectory viewer: bundled trajectory, timeline, playback, hover, PNG export, a crystal
// with its cell, and a broken file whose error names the line.
async function viewerChecks(page, mode, problems) {
  const out = {};
  await page.waitForFunction(() => document.body.dataset.uiReady === '1', null, { timeout: 30_000 });
  await page.selectOption('#example', 'assets/aspirin_rmd17.extxyz');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.frame).frames === 80, null, { timeout: 30_000 });
  let f = await frameOf(page);
  if (f.formula !== 'C9H8O4' || f.atoms !== 21) problems.push(`aspirin frame reads ${JSON.stringify(f)}`);
  const first = await shot(page, `${mode.name}-traj-frame1.png`);
  await page.locator('#timeline').fill('60');
  f = await frameOf(page);
  if (f.frame !== 60) problems.push(`timeline did not move to frame 61 (${f.frame})`);
  const later = await shot(page, `${mode.name}-traj-frame61.png`);
  out.trajChanged = differingPixels(first, later);
  if (out.trajChanged < 100) problems.push(`frame 61 looks like frame 1 (${out.trajChanged} pixels differ)`);
  await page.click('#play');
  await page.waitForTimeout(1200);
  await page.click('#play');
  const played = (await frameOf(page)).frame;
  out.playedTo = played;
  if (played === 60) problems.push('playback did not advance');

  // Hover: scan the canvas until an atom is under the pointer.
  const box = await page.locator('#viewer').boundingBox();
  out.hover = null;
  for (let i = 0; i < 40 && !out.hover; i += 1) {
    const x = box.x + box.width * (0.3 + 0.4 * ((i % 8) / 7));
    const y = box.y + box.height * (0.3 + 0.4 * (Math.floor(i / 8) / 4));
    await page.mouse.move(x, y);
    out.hover = await page.evaluate(() => document.body.dataset.hover ?? null);
  }
  const tooltip = await page.textContent('#tooltip');
  if (!out.hover) problems.push('hovering found no atom');
  else if (!/^[CHO] #\d+/.test(tooltip)) problems.push(`tooltip reads ${JSON.stringify(tooltip)}`);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const saved = path.join(shots, `${mode.name}-export.png`);
  await download.saveAs(saved);
  const exported = PNG.sync.read(fs.readFileSync(saved));
  const exportedCounts = tally(exported);
  out.export = `${download.suggestedFilename()} ${exported.width}x${exported.height}`;
  if (exportedCounts.C + exportedCounts.O + exportedCounts.H < 500) problems.push(`exported PNG shows no atoms (${JSON.stringify(exportedCounts)})`);

  await page.selectOption('#example', 'assets/perovskite_TlCoN2O.cif');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.frame).periodic === true, null, { timeout: 30_000 });
  f = await frameOf(page);
  const crystal = await shot(page, `${mode.name}-crystal.png`);
  const noImages = (await page.click('#images'), await shot(page, `${mode.name}-crystal-noimages.png`));
  out.imagesChanged = differingPixels(crystal, noImages);
  if (f.atoms !== 5) problems.push(`perovskite frame reads ${JSON.stringify(f)}`);
  if (out.imagesChanged < 200) problems.push(`periodic images toggle changed nothing (${out.imagesChanged})`);

  // A CIF site at half occupancy is read as a full atom, and the page says so.
  const halfCif = ['data_half', '_cell_length_a 4', '_cell_length_b 4', '_cell_length_c 4',
    '_cell_angle_alpha 90', '_cell_angle_beta 90', '_cell_angle_gamma 90',
    "_symmetry_space_group_name_H-M 'P 1'", 'loop_', '_atom_site_label', '_atom_site_fract_x',
    '_atom_site_fract_y', '_atom_site_fract_z', '_atom_site_occupancy', 'Fe1 0 0 0 1.0',
    'O1 0.5 0.5 0.5 0.5', ''].join('\n');
  await page.setInputFiles('#file', { name: 'half.cif', mimeType: 'text/plain', buffer: Buffer.from(halfCif) });
  await page.waitForFunction(() => JSON.parse(document.body.dataset.frame).name === 'half.cif', null, { timeout: 10_000 });
  out.notes = await page.evaluate(() => document.body.dataset.fileNotes);
  const noteText = await page.textContent('#file-error');
  if (!/occupancy 0\.5/.test(out.notes ?? '') || !/^Note: .*line 16/.test(noteText)) {
    problems.push(`partial occupancy not reported: notes ${JSON.stringify(out.notes)}, shown ${JSON.stringify(noteText)}`);
  }

  await page.setInputFiles('#file', { name: 'broken.xyz', mimeType: 'text/plain', buffer: Buffer.from('3\nwater\nO 0 0 0\nH 0.96 0 zero\nH -0.24 0.93 0\n') });
  await page.waitForFunction(() => document.body.dataset.fileError, null, { timeout: 10_000 });
  out.error = await page.textContent('#file-error');
  if (!/line 4/.test(out.error)) problems.push(`file error does not name line 4: ${out.error}`);
  return out;
}

// Property lookup: the shipped fine-tuned model loads on every backend the browser offers
// (WebGPU where it has it, the CPU always), predicts the bundled molecule's HOMO on each with the
// same result, a pasted file gives the same value, a broken paste names its line.
async function predictMolecule(page) {
  const before = Number(await page.evaluate(() => document.body.dataset.predictions ?? '0'));
  await page.selectOption('#example', '');
  await page.selectOption('#example', 'assets/molecule.xyz');
  await page.waitForFunction((n) => Number(document.body.dataset.predictions ?? '0') > n
    && JSON.parse(document.body.dataset.prediction ?? '{}').file === 'molecule.xyz', before, { timeout: 60_000 });
  return page.evaluate(() => JSON.parse(document.body.dataset.prediction));
}

async function propertyChecks(page, mode, renderBackend, problems) {
  const out = {};
  await page.waitForFunction(() => document.body.dataset.model || document.body.dataset.modelError, null, { timeout: 60_000 });
  const modelError = await page.evaluate(() => document.body.dataset.modelError);
  if (modelError) { problems.push(`property model failed to load: ${modelError}`); return out; }
  out.model = await page.evaluate(() => JSON.parse(document.body.dataset.model));
  out.backends = await page.evaluate(() => JSON.parse(document.body.dataset.modelBackends));
  if (out.model.target !== 'homo' || out.model.unit !== 'eV') problems.push(`model reads ${JSON.stringify(out.model)}`);
  // Where the page renders with WebGPU, the model must run there too (and be the default);
  // without WebGPU it runs on the CPU and says so.
  const expected = renderBackend === 'WebGPU' ? 'webgpu' : 'cpu';
  if (out.model.backend_key !== expected) {
    problems.push(`property model runs on ${out.model.backend_key}, expected ${expected} (backends: ${JSON.stringify(out.backends)})`);
  }
  const info = await page.textContent('#model-info');
  if (!/validation MAE/.test(info)) problems.push(`model line reads ${JSON.stringify(info)}`);
  if (!info.includes(out.model.backend)) problems.push(`model line does not name the backend: ${JSON.stringify(info)}`);
  // Each loaded backend: the first prediction (kernels compile), then the median of 5.
  out.runs = [];
  const keys = Object.keys(out.backends).filter((k) => out.backends[k] === 'loaded');
  for (const key of [out.model.backend_key, ...keys.filter((k) => k !== out.model.backend_key)]) {
    await page.selectOption('#predict-backend', key);
    const first = await predictMolecule(page);
    if (first.backend_key !== key) problems.push(`selected ${key}, predicted on ${first.backend_key}`);
    const times = [];
    for (let i = 0; i < 5; i += 1) times.push((await predictMolecule(page)).ms_per_structure);
    const text = await page.textContent('#predictions');
    if (!/homo \(eV\)/.test(text) || !/C7H7NO/.test(text)) problems.push(`prediction table reads ${JSON.stringify(text)}`);
    const time = await page.textContent('#predict-time');
    if (!time.includes(first.backend)) problems.push(`timing line does not name the backend: ${JSON.stringify(time)}`);
    out.runs.push({ key, backend: first.backend, value: first.results[0].value, firstMs: first.ms, msMedian: times.sort((a, b) => a - b)[2] });
  }
  // WebGPU mode: the model must have loaded on WebGPU as well as on the CPU.
  if (mode.name === 'webgpu' && keys.length !== 2) problems.push(`WebGPU mode: model backends ${JSON.stringify(out.backends)}, expected cpu and webgpu loaded`);
  for (const r of out.runs) {
    r.devNative = Math.abs(r.value - NATIVE_HOMO);
    if (!(r.devNative <= HOMO_AGREE_EV)) problems.push(`${r.key} predicts ${r.value} eV, native nucleate predict ${NATIVE_HOMO} eV`);
    if (!(Math.abs(r.value - out.runs[0].value) <= HOMO_AGREE_EV)) problems.push(`${r.key} predicts ${r.value} eV, ${out.runs[0].key} ${out.runs[0].value} eV`);
  }
  await page.selectOption('#predict-backend', out.model.backend_key);
  out.value = out.runs[0].value;
  const xyz = fs.readFileSync(path.join(dist, 'assets', 'molecule.xyz'), 'utf8');
  await page.fill('#paste', xyz);
  await page.click('#predict-paste');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.prediction).file === 'pasted.xyz', null, { timeout: 30_000 });
  const pasted = await page.evaluate(() => JSON.parse(document.body.dataset.prediction).results[0].value);
  if (Math.abs(pasted - out.value) > 1e-9) problems.push(`pasted copy predicts ${pasted}, the file ${out.value}`);
  await page.locator('#property').screenshot({ path: path.join(shots, `${mode.name}-property-table.png`) });
  // A trajectory: its first 20 frames are predicted in one batch; frame 12 pasted alone gives
  // the batch's value for it.
  await page.selectOption('#example', 'assets/aspirin_rmd17.extxyz');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.prediction).file === 'aspirin_rmd17.extxyz', null, { timeout: 60_000 });
  const traj = await page.evaluate(() => JSON.parse(document.body.dataset.prediction));
  if (traj.results.length !== 20 || traj.skipped !== 60) problems.push(`trajectory: ${traj.results.length} predicted, ${traj.skipped} skipped (expected 20, 60)`);
  const lines = fs.readFileSync(path.join(dist, 'assets', 'aspirin_rmd17.extxyz'), 'utf8').split('\n');
  await page.fill('#paste', lines.slice(11 * 23, 12 * 23).join('\n'));
  await page.click('#predict-paste');
  await page.waitForFunction(() => JSON.parse(document.body.dataset.prediction).file === 'pasted.xyz', null, { timeout: 30_000 });
  const single = await page.evaluate(() => JSON.parse(document.body.dataset.prediction).results[0]);
  out.batch = { ms: traj.ms, perFrame: traj.ms_per_structure, dev: Math.abs(single.value - traj.results[11].value) };
  if (single.formula !== 'C9H8O4' || !(out.batch.dev < 1e-4)) {
    problems.push(`frame 12 alone (${single.formula}) predicts ${single.value}, in the batch ${traj.results[11]?.value}`);
  }
  await page.fill('#paste', '3\nwater\nO 0 0 0\nH 0.96 0 zero\nH -0.24 0.93 0\n');
  await page.click('#predict-paste');
  await page.waitForFunction(() => document.body.dataset.predictError, null, { timeout: 10_000 });
  out.error = await page.textContent('#predict-error');
  if (!/line 4/.test(out.error)) problems.push(`paste error does not name line 4: ${out.error}`);
  await page.locator('#property').screenshot({ path: path.join(shots, `${mode.name}-property.png`) });
  return out;
}

// Live generation: the UniGEM model loads in a Web Worker; Generate with a fixed size and seed
// streams frames into the viewer while the page's own timer keeps ticking (responsiveness), and
// ends with the predicted property and the stability verdict. The same seed gives the same
// molecule again.
// A few SCD training steps of a small CT in the page, through core's training engine: on the
// CPU (wasm) always and on WebGPU where the page has it. The same noise every step, so the loss
// must fall; one read per step; CPU and WebGPU start from the same weights and agree.
const TRAIN_STEPS = 8;
async function trainingChecks(page, renderBackend, problems) {
  const keys = renderBackend === 'WebGPU' ? ['cpu', 'webgpu'] : ['cpu'];
  const runs = [];
  for (const key of keys) {
    const r = await page.evaluate(async ([k, steps]) => {
      const bytes = new Uint8Array(await (await fetch('assets/molecule.xyz')).arrayBuffer());
      const t0 = performance.now();
      try {
        const report = JSON.parse(await window.wasmBindings.train_steps(k, 'molecule.xyz', bytes, steps));
        return { ...report, ms: performance.now() - t0 };
      } catch (e) {
        return { error: String(e?.message ?? e) };
      }
    }, [key, TRAIN_STEPS]);
    if (r.error) { problems.push(`training on ${key}: ${r.error}`); continue; }
    runs.push(r);
    const l = r.losses;
    if (l.length !== TRAIN_STEPS || !l.every(Number.isFinite)) problems.push(`training on ${key}: losses ${JSON.stringify(l)}`);
    if (!(l[TRAIN_STEPS - 1] < 0.9 * l[0])) problems.push(`training on ${key}: the loss did not fall (${l[0]} → ${l[TRAIN_STEPS - 1]})`);
    if (r.reads !== TRAIN_STEPS) problems.push(`training on ${key}: ${r.reads} reads in ${TRAIN_STEPS} steps (expected one per step)`);
  }
  if (runs.length === 2) {
    const [a, b] = runs;
    const dev = Math.max(...a.losses.map((x, i) => Math.abs(x - b.losses[i]) / Math.abs(x)));
    if (!(dev <= TRAIN_AGREE)) problems.push(`training: CPU and WebGPU losses differ by ${dev} relative (limit ${TRAIN_AGREE})`);
    runs.dev = dev;
  }
  return runs;
}

// nucleate's graph kernels (the CSR segment sum behind every scatter and gather) on WebGPU,
// against the host reference shared with native/tests/graph_kernels.rs: random graphs of 1 to
// 10^5 edges, sum, mean and gather, forward and backward, to 1e-5 relative.
async function kernelChecks(page, renderBackend, problems) {
  if (renderBackend !== 'WebGPU') return null;
  const r = await page.evaluate(async () => {
    try {
      return JSON.parse(await window.wasmBindings.graph_kernel_check('webgpu'));
    } catch (e) {
      return { error: String(e?.message ?? e) };
    }
  });
  if (r.error) problems.push(`graph kernels on WebGPU: ${r.error}`);
  else if (!(r.graphs === 9 && r.largest === 100000 && r.worst <= 1e-5)) problems.push(`graph kernels on WebGPU: ${JSON.stringify(r)}`);
  return r;
}

async function generationChecks(page, mode, renderBackend, problems) {
  const out = {};
  await page.waitForFunction(() => document.body.dataset.genModel || document.body.dataset.genError, null, { timeout: 60_000 });
  const err = await page.evaluate(() => document.body.dataset.genError);
  if (err) { problems.push(`generation model failed to load: ${err}`); return out; }
  const info = await page.evaluate(() => JSON.parse(document.body.dataset.genModel));
  out.backends = info.backends;
  // Generation defaults to the CPU; where the page renders with WebGPU the worker must have
  // loaded the model on WebGPU too.
  if (info.backend_key !== 'cpu') problems.push(`generation defaults to ${info.backend_key}, expected cpu`);
  if (renderBackend === 'WebGPU' && info.backends.webgpu !== 'loaded') problems.push(`generation model not on WebGPU: ${info.backends.webgpu}`);
  const run = async (backend = info.backend_key) => {
    await page.selectOption('#gen-backend', backend);
    await page.selectOption('#gen-atoms', '12');
    await page.fill('#gen-seed', '7');
    await page.selectOption('#gen-every', '20');
    const t0 = Date.now();
    await page.click('#gen-run');
    // Mid-run picture: the molecule still forming.
    await page.waitForFunction(() => Number(document.body.dataset.genFrames ?? 0) >= 25 || document.body.dataset.genError, null, { timeout: 120_000 });
    await page.locator('#viewer').screenshot({ path: path.join(shots, `${mode.name}-generate-mid.png`) });
    await page.waitForFunction(() => document.body.dataset.generated || document.body.dataset.genError, null, { timeout: 180_000 });
    const g = await page.evaluate(() => document.body.dataset.genError ?? JSON.parse(document.body.dataset.generated));
    if (typeof g === 'string') { problems.push(`generation failed: ${g}`); return null; }
    if (g.backend_key !== backend) problems.push(`asked to generate on ${backend}, ran on ${g.backend_key}`);
    g.wallMs = Date.now() - t0;
    g.ticks = Number(await page.evaluate(() => document.body.dataset.genTicks));
    return g;
  };
  const g = await run();
  if (!g) return out;
  Object.assign(out, g);
  await page.locator('#viewer').screenshot({ path: path.join(shots, `${mode.name}-generate-final.png`) });
  await page.locator('#generate').screenshot({ path: path.join(shots, `${mode.name}-generate-panel.png`) });
  if (g.atoms !== 12) problems.push(`generated ${g.atoms} atoms, asked for 12`);
  if (g.frames !== 51) problems.push(`expected 51 frames (every 20 of 1000 steps + the final one), got ${g.frames}`);
  if (!Number.isFinite(g.property)) problems.push(`predicted property ${g.property}`);
  // A 50 ms timer on the main thread must keep firing while the worker samples.
  const expected = g.ms / 50;
  if (!(g.ticks >= 0.5 * expected)) problems.push(`page not responsive during generation: ${g.ticks} timer ticks in ${g.ms.toFixed(0)} ms`);
  const inView = await page.evaluate(() => document.body.dataset.genInView);
  if (inView !== 'true') problems.push(`the finished molecule is not framed (every atom in view: ${inView})`);
  const frameInfo = await page.evaluate(() => JSON.parse(document.body.dataset.frame));
  if (frameInfo.frames !== 51 || frameInfo.atoms !== 12) problems.push(`viewer holds ${frameInfo.frames} frames of ${frameInfo.atoms} atoms`);
  const text = await page.textContent('#gen-result');
  // The line shows the property the worker reported and EDM's verdict on this molecule.
  const saysStable = /EDM stable;/.test(text);
  const saysUnstable = new RegExp(`EDM not stable \\(${g.stable_atoms} of ${g.atoms} atoms stable\\);`).test(text);
  if (!text.includes(`predicted homo ${g.property.toFixed(3)} eV;`) || saysStable === saysUnstable || saysStable !== g.stable) {
    problems.push(`result line reads ${JSON.stringify(text)} for stable=${g.stable}, ${g.stable_atoms}/${g.atoms} stable atoms, property ${g.property}`);
  }
  // Stop: a run with a frame every 5 steps is stopped after a few frames; nothing more arrives,
  // the viewer keeps the frames so far, and Generate is enabled again.
  await page.selectOption('#gen-every', '5');
  await page.click('#gen-run');
  await page.waitForFunction(() => Number(document.body.dataset.genFrames ?? 0) >= 5, null, { timeout: 60_000 });
  await page.click('#gen-stop');
  const stoppedAt = Number(await page.evaluate(() => document.body.dataset.genStopped));
  await page.waitForTimeout(1500);
  const after = await page.evaluate(() => ({
    frames: Number(document.body.dataset.genFrames), done: Boolean(document.body.dataset.generated),
    enabled: !document.getElementById('gen-run').disabled, viewer: JSON.parse(document.body.dataset.frame).frames,
  }));
  if (!(stoppedAt >= 5) || after.frames !== stoppedAt || after.done || !after.enabled || after.viewer !== stoppedAt) {
    problems.push(`Stop did not stop cleanly: stopped at ${stoppedAt}, then ${JSON.stringify(after)}`);
  }
  out.stoppedAt = stoppedAt;
  const again = await run();
  if (again && (again.formula !== g.formula || again.property !== g.property)) {
    problems.push(`same seed, different molecule: ${g.formula} ${g.property} vs ${again.formula} ${again.property}`);
  }
  // WebGPU: the first 20 steps (4 frames of every 5th state) from the same seed follow the CPU's
  // trajectory (same noise, ε̂ equal to f32 rounding); then Stop. Reports ms per step.
  out.runs = [{ backend: g.backend, ms: g.ms, steps: g.steps }];
  if (mode.name === 'webgpu' && info.backends.webgpu !== 'loaded') problems.push(`WebGPU mode: generation model on WebGPU ${info.backends.webgpu}`);
  if (info.backends.webgpu === 'loaded') {
    const firstFrames = async (backend) => {
      await page.selectOption('#gen-backend', backend);
      await page.selectOption('#gen-every', '5');
      await page.click('#gen-run');
      await page.waitForFunction(() => Number(document.body.dataset.genFrames ?? 0) >= 4 || document.body.dataset.genError, null, { timeout: 120_000 });
      const last = await page.evaluate(() => JSON.parse(document.body.dataset.genEarly)[3]);
      await page.click('#gen-stop');
      await page.waitForTimeout(500);
      return last;
    };
    const cpu = await firstFrames('cpu');
    const gpu = await firstFrames('webgpu');
    const coords = (xyz) => xyz.trim().split('\n').slice(2).flatMap((l) => l.trim().split(/\s+/).slice(1, 4).map(Number));
    const a = coords(cpu.xyz);
    const b = coords(gpu.xyz);
    const dev = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    if (cpu.t !== gpu.t || a.length !== 36 || b.length !== 36 || !(dev <= GEN_AGREE_ANGSTROM)) {
      problems.push(`WebGPU generation departs from the CPU's: t ${gpu.t} vs ${cpu.t}, max |Δx| ${dev} Å`);
    }
    out.gpuCheck = { t: gpu.t, dev };
    out.runs.push({ backend: 'WebGPU (burn wgpu, WGSL kernels)', ms: gpu.ms, steps: 1000 - gpu.t });
  }
  return out;
}

const BASE_ARGS = [
  '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--enable-unsafe-swiftshader',
];
const MODES = [
  {
    name: 'webgpu',
    args: [...BASE_ARGS, '--enable-unsafe-webgpu', '--use-vulkan=swiftshader', '--use-angle=swiftshader',
      '--enable-features=Vulkan'],
  },
  { name: 'webgl2', args: [...BASE_ARGS, '--use-angle=swiftshader', '--disable-features=WebGPU'] },
];

async function runMode(mode, url) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: mode.args,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    const logs = [];
    page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
    const t0 = Date.now();
    await page.goto(url);
    try {
      await page.waitForFunction(() => document.body.dataset.ready === '1' || document.body.dataset.error, null, { timeout: 90_000 });
    } catch (e) {
      throw new Error(`page never became ready:\n${logs.join('\n')}`);
    }
    const readyMs = Date.now() - t0;
    const error = await page.evaluate(() => document.body.dataset.error);
    if (error) throw new Error(`page reported an error: ${error}\n${logs.join('\n')}`);
    const backend = await page.evaluate(() => document.body.dataset.backend);
    const status = await page.textContent('#status');
    const canvas = page.locator('#viewer');
    const before = PNG.sync.read(await canvas.screenshot({ path: path.join(shots, `${mode.name}.png`) }));
    const counts = tally(before);

    // Drag across the canvas: the molecule must turn (the picture changes).
    const box = await canvas.boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 40, { steps: 6 });
    await page.mouse.up();
    await page.waitForTimeout(300);
    const after = PNG.sync.read(await canvas.screenshot({ path: path.join(shots, `${mode.name}-rotated.png`) }));
    const changed = differingPixels(before, after);

    const problems = [];
    if (counts.O < 80) problems.push(`too few oxygen-red pixels (${counts.O})`);
    if (counts.N < 80) problems.push(`too few nitrogen-blue pixels (${counts.N})`);
    if (counts.C < 800) problems.push(`too few carbon-grey pixels (${counts.C})`);
    if (counts.H < 150) problems.push(`too few hydrogen-white pixels (${counts.H})`);
    if (changed < 500) problems.push(`dragging did not rotate the molecule (${changed} pixels changed)`);
    const viewer = await viewerChecks(page, mode, problems);
    const property = await propertyChecks(page, mode, backend, problems);
    const generation = await generationChecks(page, mode, backend, problems);
    const training = await trainingChecks(page, backend, problems);
    const kernels = await kernelChecks(page, backend, problems);
    return { mode: mode.name, backend, status, readyMs, counts, changed, problems, logs, viewer, property, generation, training, kernels };
  } finally {
    await browser.close();
  }
}

const server = await serve(dist);
const url = `http://127.0.0.1:${server.address().port}/`;
let failed = false;
let webgpuRendered = false;
for (const mode of MODES) {
  try {
    const r = await runMode(mode, url);
    console.log(`[${r.mode}] backend=${r.backend} ready_after_ms=${r.readyMs} pixels O=${r.counts.O} N=${r.counts.N} C=${r.counts.C} H=${r.counts.H} rotated_pixels=${r.changed}`);
    console.log(`[${r.mode}] status: ${r.status}`);
    if (r.viewer) console.log(`[${r.mode}] viewer: trajectory frame1→61 ${r.viewer.trajChanged} px changed; played to frame ${r.viewer.playedTo + 1}; hover ${r.viewer.hover}; export ${r.viewer.export}; crystal images toggle ${r.viewer.imagesChanged} px; error "${r.viewer.error}"`);
    if (r.property?.model) {
      console.log(`[${r.mode}] property: ${r.property.model.name} ${r.property.model.target}=${r.property.value.toFixed(4)} ${r.property.model.unit} for molecule.xyz; default backend ${r.property.model.backend}; backends ${JSON.stringify(r.property.backends)}; paste error "${r.property.error}"`);
      if (r.property.batch) console.log(`[${r.mode}] property: 20 aspirin frames in one batch ${r.property.batch.ms.toFixed(0)} ms (${r.property.batch.perFrame.toFixed(1)} ms per frame); frame 12 alone differs by ${r.property.batch.dev.toExponential(1)} eV`);
      for (const run of r.property.runs ?? []) {
        console.log(`[${r.mode}] inference on ${run.backend}: ${run.msMedian.toFixed(1)} ms per molecule (median of 5; first call ${run.firstMs.toFixed(0)} ms), homo ${run.value.toFixed(5)} eV (native ${NATIVE_HOMO.toFixed(5)}, |Δ| ${run.devNative.toExponential(1)})`);
      }
    }
    for (const run of r.generation?.runs ?? []) console.log(`[${r.mode}] generation on ${run.backend}: ${run.steps} steps in ${(run.ms / 1000).toFixed(2)} s (${(run.ms / run.steps).toFixed(2)} ms/step, kernel compilation included)`);
    if (r.generation?.gpuCheck) console.log(`[${r.mode}] generation WebGPU vs CPU after ${1000 - r.generation.gpuCheck.t} steps of seed 7: max |Δx| ${r.generation.gpuCheck.dev.toExponential(2)} Å`);
    if (r.generation?.formula) console.log(`[${r.mode}] generation: ${r.generation.atoms} atoms, seed 7 → ${r.generation.formula}, predicted homo ${r.generation.property.toFixed(3)} eV, stable=${r.generation.stable} (${r.generation.stable_atoms}/${r.generation.atoms} atoms), valid=${r.generation.valid}; ${r.generation.steps} steps in ${(r.generation.ms / 1000).toFixed(2)} s in the worker (${(r.generation.ms / r.generation.steps).toFixed(2)} ms/step), ${r.generation.frames} frames; main-thread timer ticks ${r.generation.ticks} of ~${Math.round(r.generation.ms / 50)}`);
    for (const t of r.training ?? []) console.log(`[${r.mode}] training on ${t.backend}: ${t.losses.length} SCD steps of a ${t.parameters}-parameter CT in ${(t.ms / 1000).toFixed(2)} s, loss ${t.losses[0].toFixed(4)} → ${t.losses[t.losses.length - 1].toFixed(4)}; ${t.reads} reads (${t.bytes_to_host} B), ${t.uploads} uploads (${(t.bytes_to_device / 1024).toFixed(0)} KiB)`);
    if (r.kernels && !r.kernels.error) console.log(`[${r.mode}] graph kernels on WebGPU: ${r.kernels.graphs} graphs (1 to ${r.kernels.largest} edges), forward and backward, worst relative error ${r.kernels.worst.toExponential(2)} (${(r.kernels.ms / 1000).toFixed(1)} s)`);
    if (r.training?.dev !== undefined) console.log(`[${r.mode}] training CPU vs WebGPU: max relative loss difference ${r.training.dev.toExponential(1)}`);
    if (mode.name === 'webgl2' && r.backend !== 'WebGL2') r.problems.push(`expected the WebGL2 fallback, got ${r.backend}`);
    if (mode.name === 'webgpu' && r.backend !== 'WebGPU') r.problems.push(`WebGPU mode rendered with ${r.backend}: WebGPU (SwiftShader) did not come up`);
    if (mode.name === 'webgpu' && r.backend === 'WebGPU') webgpuRendered = true;
    if (r.problems.length) {
      failed = true;
      console.error(`[${r.mode}] FAIL: ${r.problems.join('; ')}\n${r.logs.join('\n')}`);
    }
  } catch (e) {
    failed = true;
    console.error(`[${mode.name}] FAIL: ${e.message}`);
  }
}
console.log(`WebGPU available in this Chromium: ${webgpuRendered ? 'yes' : 'no (fell back to WebGL2)'}; screenshots in ${shots}`);
server.close();
process.exit(failed ? 1 : 0);
