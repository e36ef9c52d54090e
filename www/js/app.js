// The demo page: controls, a shower view, per-layer heatmaps, the E_tot/E_inc histogram and
// timings. Sampling runs in a Web Worker (see tdsm-client.js). `window.tdsmApp` exposes the
// client for automated tests.

import { TdsmClient } from './tdsm-client.js';
import { ShowerView } from './shower-view.js';
import { LayerHeatmaps } from './layer-heatmaps.js';
import { ResponseHistogram } from './histogram.js';
import { energy as fmtEnergy, duration } from './format.js';

/** The 15 discrete incident energies of CaloChallenge dataset 1 (MeV). */
const ENERGIES = Array.from({ length: 15 }, (_, k) => 2 ** (8 + k));

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
for (const key of ['backend', 'sampler', 'steps', 'seed', 'count']) {
  if (params.has(key)) $(key).value = params.get(key);
}
if (params.has('energy')) $('energy').value = params.get('energy');

function setState(s, text) {
  document.body.dataset.state = s;
  if (text !== undefined) $('status').textContent = text;
}

const selectedEnergy = () => ENERGIES[Number($('energy').value)];
const showEnergy = () => ($('energy-label').textContent = fmtEnergy(selectedEnergy()));
showEnergy();

let nextIndex = 0;
let generated = 0;
let firstMs = null;

async function loadReference() {
  try {
    const r = await fetch(new URL('../model/reference.json', import.meta.url));
    return r.ok ? await r.json() : null;
  } catch (_) {
    return null;
  }
}

const backend = $('backend').value;
const ready = (async () => {
  const [reference, client] = await Promise.all([loadReference(), TdsmClient.create({ backend })]);
  return { reference, client };
})();

let client, view, heatmaps, histogram;

ready.then(
  ({ reference, client: c }) => {
    client = c;
    const info = client.info;
    view = new ShowerView($('shower'), info.geometry);
    heatmaps = new LayerHeatmaps($('layers'), info.geometry);
    histogram = new ResponseHistogram($('histogram'), reference);
    histogram.select(selectedEnergy());
    $('t-device').textContent = info.device === 'webgpu' ? `WebGPU${info.adapter ? ' (' + info.adapter + ')' : ''}` : 'CPU (WebAssembly)';
    $('t-load').textContent = duration(info.loadMs);
    $('model-info').textContent =
      `${info.card.geometry}, ${info.card.net.n_layers} layers × ${info.card.net.hidden_dim} hidden, ${info.card.trainedSteps} training steps` +
      (info.card.calibrated ? ', calibrated totals' : '');
    if (info.note) {
      $('note').textContent = info.note;
      $('note').hidden = false;
    }
    $('generate').disabled = false;
    setState('ready', `Ready on ${info.device === 'webgpu' ? 'WebGPU' : 'the CPU'}. Pick an energy and press Generate.`);
  },
  (e) => setState('error', `Could not load the model: ${e.message}`),
);

$('energy').addEventListener('input', () => {
  showEnergy();
  if (histogram) histogram.select(selectedEnergy());
});
$('seed').addEventListener('change', () => (nextIndex = 0));
$('backend').addEventListener('change', () => {
  const u = new URL(location.href);
  u.searchParams.set('backend', $('backend').value);
  location.href = u.href;
});

/** Generates with the page's client; resolves to the worker's result. */
async function generate(req, onProgress) {
  const { client } = await ready;
  return client.generate(req, onProgress);
}

async function onGenerate() {
  const count = Number($('count').value);
  const steps = Number($('steps').value);
  const seed = Number($('seed').value);
  const e = selectedEnergy();
  const first = nextIndex;
  nextIndex += count;
  $('generate').disabled = true;
  setState('busy', `Generating ${count} shower${count > 1 ? 's' : ''} at ${fmtEnergy(e)}…`);
  $('progress').value = 0;
  try {
    const res = await generate(
      { energies: new Array(count).fill(e), first, seed, sampler: $('sampler').value, steps },
      (done, total) => {
        $('progress').value = done / total;
        // on WebGPU the steps are queued at once; the work finishes at the read-back
        if (done === total && client.info.device === 'webgpu') setState('busy', 'Waiting for the GPU to finish the queued steps…');
      },
    );
    $('progress').value = 1;
    const s = res.showers[0];
    view.show(s.points);
    heatmaps.show(s.voxels);
    for (const sh of res.showers) histogram.add(sh.incidentEnergy, sh.totalEnergy / sh.incidentEnergy);
    histogram.select(e);
    generated += res.showers.length;
    if (firstMs === null) firstMs = res.ms;
    $('t-first').textContent = duration(firstMs);
    $('t-last').textContent = `${duration(res.ms)} (${duration(res.ms / count)} per shower)`;
    $('t-rate').textContent = (count / (res.ms / 1000)).toFixed(2);
    $('t-count').textContent = String(generated);
    $('shower-label').textContent =
      `#${s.index} · ${fmtEnergy(e)} · E_tot/E_inc = ${(s.totalEnergy / s.incidentEnergy).toFixed(3)} · ${s.nPoints} points` +
      (s.dropped ? ` (${s.dropped} outside)` : '');
    setState('ready', `Generated ${count} in ${duration(res.ms)} on ${client.info.device === 'webgpu' ? 'WebGPU' : 'the CPU'}.`);
  } catch (err) {
    setState('error', `Generation failed: ${err.message}`);
  } finally {
    $('generate').disabled = false;
  }
}
$('generate').addEventListener('click', onGenerate);

/** For tests and the console: the load promise, direct generation, the page's counters. */
window.tdsmApp = {
  ready: ready.then(({ client }) => client.info),
  generate,
  energies: ENERGIES,
  /** Time of the first clicked batch (ms) and the number of showers generated by clicks. */
  stats: () => ({ firstMs, generated }),
};
