// Live UniGEM generation off the main thread. The page sends the URLs of the wasm-bindgen glue
// and module (the same build the page runs) and the model directory; this worker loads the model
// on the CPU backend (the default) and, where the worker has WebGPU, on WebGPU too, then runs the
// sampler in slices of steps on the backend the page asks for, posting every state as one extended XYZ
// frame. The page stays responsive because all model evaluation happens here.

const generators = {}; // backend key ('cpu', 'webgpu') → Generator
let job = 0; // incremented by each request, so a new request or a cancel ends the running one

const fetchOk = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
};

async function init({ glue, wasm, modelDir }) {
  const bindings = await import(glue);
  await bindings.default({ module_or_path: wasm });
  const [config, meta, weights] = await Promise.all([
    fetchOk(`${modelDir}/config.toml`).then((r) => r.text()),
    fetchOk(`${modelDir}/meta.json`).then((r) => r.text()),
    fetchOk(`${modelDir}/weights.bin`).then((r) => r.arrayBuffer()).then((b) => new Uint8Array(b)),
  ]);
  const backends = {};
  for (const key of self.navigator.gpu ? ['webgpu', 'cpu'] : ['cpu']) {
    try {
      generators[key] = await bindings.Generator.create(config, meta, weights, key);
      backends[key] = 'loaded';
    } catch (e) {
      backends[key] = String(e.message ?? e);
      if (key === 'cpu') throw e;
    }
  }
  if (!self.navigator.gpu) backends.webgpu = 'no WebGPU in this worker';
  // The CPU is the default: one molecule of at most 29 atoms is a few hundred small kernels per
  // step, which the CPU runs faster than a GPU can be dispatched and read back (README).
  const info = JSON.parse(generators.cpu.info());
  return { ...info, backends };
}

async function generate({ atoms, seed, steps, every, backend }) {
  const mine = ++job;
  const generator = generators[backend] ?? generators.cpu;
  const info = JSON.parse(generator.info());
  const t0 = performance.now();
  const n = generator.start(atoms, BigInt(seed), steps);
  postMessage({ type: 'started', atoms: n, backend: info.backend, backend_key: info.backend_key });
  for (;;) {
    let state;
    try {
      state = JSON.parse(await generator.advance(every));
    } catch (e) {
      if (mine !== job) return; // superseded by a new request or a cancel
      throw e;
    }
    if (mine !== job) return;
    state.ms = performance.now() - t0;
    state.backend = info.backend;
    state.backend_key = info.backend_key;
    postMessage({ type: state.done ? 'done' : 'frame', ...state });
    if (state.done) return;
    // Yield so that a cancel or a new request can arrive between slices.
    await new Promise((resolve) => setTimeout(resolve, 0));
    if (mine !== job) return;
  }
}

onmessage = async (e) => {
  const msg = e.data;
  try {
    if (msg.type === 'init') postMessage({ type: 'ready', info: await init(msg) });
    else if (msg.type === 'generate') await generate(msg);
    else if (msg.type === 'cancel') job += 1;
  } catch (err) {
    postMessage({ type: 'error', message: String(err.message ?? err) });
  }
};
