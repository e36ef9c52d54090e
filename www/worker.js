// Web Worker that owns the WebAssembly module and the model: loads it on WebGPU when the
// browser gives an adapter (else on the CPU) and generates showers on request, so that the
// page never blocks. Messages in:  {type: 'load', modelUrl, backend: 'auto'|'webgpu'|'cpu'}
//                                  {type: 'generate', id, energies, first, seed, sampler, steps, calibrate}
// Messages out: {type: 'ready', device, note, adapter, geometry, card, loadMs}
//               {type: 'progress', id, done, total}
//               {type: 'result', id, showers, ms}
//               {type: 'error', id, message, fatal}
import init, { loadGenerator } from './pkg/tdsm_web.js';

let generator = null;
let dead = null; // message of a trap: the instance cannot be used again

async function webgpuAdapter() {
  if (!('gpu' in navigator) || !navigator.gpu) return { ok: false, why: 'this browser has no WebGPU (navigator.gpu is missing)' };
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return { ok: false, why: 'navigator.gpu.requestAdapter() gave no adapter' };
    let name = '';
    let software = !!adapter.isFallbackAdapter;
    try {
      const info = adapter.info || (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : null);
      if (info) {
        name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
        software = software || !!info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(name);
      }
    } catch (_) { /* adapter info is optional */ }
    return { ok: true, name, software };
  } catch (e) {
    return { ok: false, why: `requesting a WebGPU adapter failed: ${e && e.message ? e.message : e}` };
  }
}

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`cannot fetch ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

function message(e) {
  if (e instanceof WebAssembly.RuntimeError) {
    dead = `the WebAssembly instance stopped (${e.message}); see the console for the Rust panic message`;
    return dead;
  }
  return e && e.message ? e.message : String(e);
}

async function load({ modelUrl, backend }) {
  const t0 = performance.now();
  await init({ module_or_path: new URL('./pkg/tdsm_web_bg.wasm', import.meta.url) });
  const base = new URL(modelUrl, self.location.href);
  const [cardText, weights] = await Promise.all([
    fetch(new URL('model.json', base)).then((r) => {
      if (!r.ok) throw new Error(`cannot fetch the model card: HTTP ${r.status}`);
      return r.text();
    }),
    fetchBytes(new URL('weights.mpk', base)),
  ]);
  let note = '';
  let adapter = '';
  let useGpu = false;
  if (backend !== 'cpu') {
    const a = await webgpuAdapter();
    if (a.ok) {
      useGpu = true;
      adapter = a.name;
      if (a.software) note = `WebGPU runs on a software adapter (${a.name || 'fallback'}): expect seconds per shower; the CPU device may be faster.`;
    } else if (backend === 'webgpu') {
      throw new Error(`WebGPU was requested but ${a.why}`);
    } else {
      note = `Running on the CPU (WebAssembly, one thread): ${a.why}.`;
    }
  } else {
    note = 'Running on the CPU (WebAssembly, one thread), as requested.';
  }
  generator = await loadGenerator(cardText, weights, useGpu);
  const card = JSON.parse(generator.cardJson());
  return {
    device: generator.device,
    note,
    adapter,
    geometry: generator.geometry(),
    card: { geometry: card.geometry, net: card.net, trainedSteps: card.trained_steps, sde: card.sde, calibrated: !!card.response },
    loadMs: performance.now() - t0,
  };
}

async function generate(msg) {
  if (!generator) throw new Error('no model is loaded');
  const t0 = performance.now();
  let last = 0;
  const onStep = (done, total) => {
    const now = performance.now();
    if (done === total || now - last > 50) {
      last = now;
      self.postMessage({ type: 'progress', id: msg.id, done, total });
    }
  };
  const showers = await generator.generate(
    Float64Array.from(msg.energies), msg.first, msg.seed, msg.sampler, msg.steps, msg.calibrate !== false, onStep);
  const ms = performance.now() - t0;
  const transfer = [];
  for (const s of showers) transfer.push(s.points.buffer, s.voxels.buffer);
  self.postMessage({ type: 'result', id: msg.id, showers, ms }, transfer);
}

self.onmessage = async (ev) => {
  const msg = ev.data;
  if (dead) {
    self.postMessage({ type: 'error', id: msg.id, message: dead, fatal: true });
    return;
  }
  try {
    if (msg.type === 'load') self.postMessage({ type: 'ready', ...(await load(msg)) });
    else if (msg.type === 'generate') await generate(msg);
    else throw new Error(`unknown request ${msg.type}`);
  } catch (e) {
    const m = message(e);
    self.postMessage({ type: 'error', id: msg.id, message: m, fatal: !!dead || msg.type === 'load' });
  }
};
