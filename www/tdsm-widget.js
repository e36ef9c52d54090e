// Embeddable shower generator: import this module and write
//   <tdsm-shower energy="50" steps="50"></tdsm-shower>
// Attributes: energy (GeV, default 50), steps (default 50), sampler (em | pc | ode, default em),
// seed (default 1), backend (auto | webgpu | cpu, default auto), model (folder URL holding
// model.json and weights.mpk; default: the model/ folder next to this file).
// Widgets on one page with the same model and backend share one worker.

import { TdsmClient } from './js/tdsm-client.js';
import { ShowerView } from './js/shower-view.js';
import { energy as fmtEnergy, duration } from './js/format.js';

const clients = new Map();

function clientFor(modelUrl, backend) {
  const key = `${modelUrl}|${backend}`;
  if (!clients.has(key)) clients.set(key, TdsmClient.create({ modelUrl, backend }));
  return clients.get(key);
}

const STYLE = `
:host { display: inline-block; width: 420px; font: 13px/1.4 system-ui, sans-serif; color: #dfe3ee; }
.box { background: #171b27; border-radius: 8px; padding: 10px; }
canvas { width: 100%; height: 280px; display: block; border-radius: 6px; }
.bar { display: flex; align-items: center; gap: 10px; margin-top: 8px; }
button { font: inherit; font-weight: 600; padding: 6px 12px; background: #f5a623; color: #111; border: 0; border-radius: 6px; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
.status { color: #8a93a8; flex: 1; }
.status.error { color: #ff7b7b; }
`;

/** The `<tdsm-shower>` element: a Generate button and a rotatable view of the shower. */
export class TdsmShower extends HTMLElement {
  #view = null;
  #next = 0;

  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${STYLE}</style><div class="box"><canvas part="view"></canvas>
      <div class="bar"><button part="button" disabled>Generate</button><span class="status">loading…</span></div></div>`;
    this.dataset.state = 'loading';
    const button = root.querySelector('button');
    button.addEventListener('click', () => this.generate());
    this.#client()
      .then((c) => {
        this.#view = new ShowerView(root.querySelector('canvas'), c.info.geometry);
        button.disabled = false;
        this.#status(`${fmtEnergy(this.#energyMeV())} · ${c.info.device === 'webgpu' ? 'WebGPU' : 'CPU'}`);
        this.dataset.state = 'ready';
      })
      .catch((e) => this.#fail(e));
  }

  disconnectedCallback() {
    if (this.#view) this.#view.dispose();
  }

  #client() {
    const model = this.getAttribute('model') || new URL('./model/', import.meta.url).href;
    return clientFor(new URL(model, document.baseURI).href, this.getAttribute('backend') || 'auto');
  }

  #energyMeV() {
    const gev = Number(this.getAttribute('energy') || 50);
    return (Number.isFinite(gev) && gev > 0 ? gev : 50) * 1000;
  }

  #status(text, error = false) {
    const s = this.shadowRoot.querySelector('.status');
    s.textContent = text;
    s.classList.toggle('error', error);
  }

  #fail(e) {
    this.dataset.state = 'error';
    this.#status(e.message, true);
  }

  /** Generates one shower and shows it; resolves to the shower. */
  async generate() {
    const button = this.shadowRoot.querySelector('button');
    button.disabled = true;
    this.dataset.state = 'busy';
    try {
      const client = await this.#client();
      const e = this.#energyMeV();
      const res = await client.generate(
        {
          energies: [e],
          first: this.#next++,
          seed: Number(this.getAttribute('seed') || 1),
          sampler: this.getAttribute('sampler') || 'em',
          steps: Number(this.getAttribute('steps') || 50),
        },
        (done, total) => this.#status(`step ${done} / ${total}`),
      );
      const s = res.showers[0];
      this.#view.show(s.points);
      this.#status(`${fmtEnergy(e)} · E_tot/E_inc ${(s.totalEnergy / e).toFixed(3)} · ${s.nPoints} points · ${duration(res.ms)} on ${client.info.device === 'webgpu' ? 'WebGPU' : 'CPU'}`);
      this.dataset.state = 'ready';
      this.dispatchEvent(new CustomEvent('shower', { detail: s }));
      return s;
    } catch (e) {
      this.#fail(e);
      throw e;
    } finally {
      button.disabled = false;
    }
  }
}

if (!customElements.get('tdsm-shower')) customElements.define('tdsm-shower', TdsmShower);
