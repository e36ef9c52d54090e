// Main-thread handle on the sampling worker: promises for loading and generating, a progress
// callback, and a fresh worker when the WebAssembly instance has stopped.

/** A model running in a Web Worker. Create with `await TdsmClient.create(options)`. */
export class TdsmClient {
  /**
   * @param {{modelUrl?: string|URL, backend?: 'auto'|'webgpu'|'cpu'}} options
   *   modelUrl: folder holding model.json and weights.mpk (default: www/model/ next to this file);
   *   backend: 'auto' (WebGPU when the browser gives an adapter, else the CPU), 'webgpu' or 'cpu'.
   */
  static async create(options = {}) {
    const c = new TdsmClient(options);
    await c.#start();
    return c;
  }

  #options;
  #worker = null;
  #pending = new Map();
  #nextId = 1;
  #info = null;
  #queue = Promise.resolve();

  constructor(options) {
    this.#options = {
      modelUrl: String(options.modelUrl || new URL('../model/', import.meta.url)),
      backend: options.backend || 'auto',
    };
  }

  /** `{device, note, adapter, geometry, card, loadMs}` of the loaded model. */
  get info() {
    return this.#info;
  }

  #start() {
    this.#worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
    this.#worker.onmessage = (ev) => this.#receive(ev.data);
    this.#worker.onerror = (ev) => {
      const err = new Error(`the sampling worker failed: ${ev.message || 'script error (is www/pkg built?)'}`);
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    return new Promise((resolve, reject) => {
      this.#pending.set(0, {
        resolve: (info) => {
          this.#info = info;
          resolve(info);
        },
        reject,
      });
      this.#worker.postMessage({ type: 'load', ...this.#options });
    });
  }

  #receive(msg) {
    const id = msg.type === 'ready' || (msg.type === 'error' && msg.id === undefined) ? 0 : msg.id;
    const p = this.#pending.get(id);
    if (!p) return;
    if (msg.type === 'progress') {
      if (p.onProgress) p.onProgress(msg.done, msg.total);
      return;
    }
    this.#pending.delete(id);
    if (msg.type === 'error') {
      if (msg.fatal && id !== 0) this.#restart();
      p.reject(new Error(msg.message));
    } else {
      p.resolve(msg.type === 'ready' ? msg : { showers: msg.showers, ms: msg.ms });
    }
  }

  #restart() {
    this.#worker.terminate();
    this.#start().catch(() => {});
  }

  /**
   * Generates showers (one request at a time; later calls wait for earlier ones).
   * @param {{energies: number[], first?: number, seed?: number, sampler?: string, steps?: number, calibrate?: boolean}} req
   *   energies in MeV; shower `first + i` gets `energies[i]`; a shower depends only on (seed, index).
   * @param {(done: number, total: number) => void} [onProgress] called as sampler steps finish.
   * @returns {Promise<{showers: Array<{index, incidentEnergy, totalEnergy, nPoints, dropped, points: Float32Array, voxels: Float32Array}>, ms: number}>}
   */
  generate(req, onProgress) {
    const run = () =>
      new Promise((resolve, reject) => {
        const id = this.#nextId++;
        this.#pending.set(id, { resolve, reject, onProgress });
        this.#worker.postMessage({
          type: 'generate',
          id,
          energies: Array.from(req.energies),
          first: req.first ?? 0,
          seed: req.seed ?? 1,
          sampler: req.sampler || 'em',
          steps: req.steps ?? 50,
          calibrate: req.calibrate !== false,
        });
      });
    const p = this.#queue.then(run, run);
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Stops the worker. */
  close() {
    this.#worker.terminate();
  }
}
