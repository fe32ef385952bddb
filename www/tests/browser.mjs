// Headless-Chromium test of the built page (www/dist): serves it on 127.0.0.1, waits for the
// wasm module's ready flag, and checks that the canvas shows the bundled molecule's colours
// (O red, N blue, C grey, H white) and that dragging rotates it. Runs once with WebGPU enabled
// and once with WebGPU off (WebGL2), reporting which backend each run rendered with.
//
// Usage: node tests/browser.mjs [dist-dir]   (Chromium at /usr/bin/chromium or $CHROMIUM)

import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(process.argv[2] ?? path.join(here, '..', 'dist'));
const shots = path.join(here, 'screenshots');
fs.mkdirSync(shots, { recursive: true });

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
    return { mode: mode.name, backend, status, readyMs, counts, changed, problems, logs };
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
    if (mode.name === 'webgl2' && r.backend !== 'WebGL2') r.problems.push(`expected the WebGL2 fallback, got ${r.backend}`);
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
