// Live UniGEM generation off the main thread. The page sends the URLs of the wasm-bindgen glue
// and module (the same build the page runs) and the model directory; this worker loads them,
// then runs the sampler in slices of steps, posting every state as one extended XYZ frame. The
// page stays responsive because all model evaluation happens here.

let generator = null;
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
    fetchOk(`${modelDir}/weights.bin`).then((r) => r.arrayBuffer()),
  ]);
  generator = new bindings.Generator(config, meta, new Uint8Array(weights));
  return JSON.parse(generator.info());
}

async function generate({ atoms, seed, steps, every }) {
  const mine = ++job;
  const t0 = performance.now();
  const n = generator.start(atoms, BigInt(seed), steps);
  postMessage({ type: 'started', atoms: n });
  for (;;) {
    const state = JSON.parse(generator.advance(every));
    state.ms = performance.now() - t0;
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
