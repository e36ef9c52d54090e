// Accumulating histogram of generated E_tot / E_inc against the simulator's reference at the
// same incident energy (www/model/reference.json).

/** A histogram canvas. */
export class ResponseHistogram {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{energies: Array<{incidentEnergy, edges, counts, mean, std}>}} reference
   */
  constructor(canvas, reference) {
    this.canvas = canvas;
    this.reference = reference;
    this.samples = new Map(); // incident energy -> generated ratios
    this.energy = reference && reference.energies.length ? reference.energies[0].incidentEnergy : 0;
  }

  /** The reference entry closest (in log energy) to `e`. */
  referenceFor(e) {
    if (!this.reference) return null;
    let best = null;
    for (const r of this.reference.energies) {
      if (!best || Math.abs(Math.log(r.incidentEnergy / e)) < Math.abs(Math.log(best.incidentEnergy / e))) best = r;
    }
    return best;
  }

  /** Selects the incident energy whose histograms are shown. */
  select(e) {
    this.energy = e;
    this.draw();
  }

  /** Adds a generated shower's E_tot / E_inc at incident energy `e`. */
  add(e, ratio) {
    if (!this.samples.has(e)) this.samples.set(e, []);
    this.samples.get(e).push(ratio);
    this.draw();
  }

  /** Number of generated showers at the selected energy. */
  count() {
    return (this.samples.get(this.energy) || []).length;
  }

  /** Redraws. */
  draw() {
    const c = this.canvas;
    const ctx = c.getContext('2d');
    const w = c.width, h = c.height;
    const pad = { l: 36, r: 10, t: 22, b: 30 };
    ctx.fillStyle = '#0b0d14';
    ctx.fillRect(0, 0, w, h);
    const ref = this.referenceFor(this.energy);
    ctx.font = '11px system-ui, sans-serif';
    if (!ref) {
      ctx.fillStyle = '#ccd';
      ctx.fillText('no reference loaded', pad.l, h / 2);
      return;
    }
    const edges = ref.edges;
    const nb = edges.length - 1;
    const lo = edges[0], hi = edges[nb];
    const gen = this.samples.get(this.energy) || [];
    const genCounts = new Array(nb).fill(0);
    let under = 0, over = 0;
    for (const r of gen) {
      if (r < lo) under++;
      else if (r >= hi) over++;
      else genCounts[Math.min(nb - 1, Math.floor(((r - lo) / (hi - lo)) * nb))]++;
    }
    const refTotal = ref.counts.reduce((a, b) => a + b, 0) || 1;
    const refDens = ref.counts.map((x) => x / refTotal);
    const genDens = genCounts.map((x) => (gen.length ? x / gen.length : 0));
    const yMax = Math.max(...refDens, ...genDens, 1e-9) * 1.1;
    const X = (v) => pad.l + ((v - lo) / (hi - lo)) * (w - pad.l - pad.r);
    const Y = (d) => h - pad.b - (d / yMax) * (h - pad.t - pad.b);
    ctx.fillStyle = 'rgba(90,150,255,0.35)';
    for (let i = 0; i < nb; i++) ctx.fillRect(X(edges[i]), Y(refDens[i]), X(edges[i + 1]) - X(edges[i]) - 0.5, h - pad.b - Y(refDens[i]));
    ctx.strokeStyle = '#f5a623';
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (let i = 0; i < nb; i++) {
      ctx.lineTo(X(edges[i]), Y(genDens[i]));
      ctx.lineTo(X(edges[i + 1]), Y(genDens[i]));
    }
    ctx.stroke();
    ctx.strokeStyle = '#556';
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(pad.l, h - pad.b);
    ctx.lineTo(w - pad.r, h - pad.b);
    ctx.stroke();
    ctx.fillStyle = '#ccd';
    ctx.textAlign = 'center';
    for (let k = 0; k <= 4; k++) {
      const v = lo + (k / 4) * (hi - lo);
      ctx.textAlign = k === 0 ? 'left' : k === 4 ? 'right' : 'center';
      ctx.fillText(v.toFixed(3), X(v), h - pad.b + 14);
    }
    ctx.textAlign = 'center';
    ctx.fillText('E_tot / E_inc', w / 2, h - 3);
    ctx.textAlign = 'left';
    const eTxt = this.energy >= 1000 ? `${(this.energy / 1000).toFixed(this.energy < 10000 ? 2 : 0)} GeV` : `${this.energy} MeV`;
    ctx.fillStyle = 'rgba(120,170,255,1)';
    ctx.fillText(`simulation (${refTotal})`, pad.l, 13);
    ctx.fillStyle = '#f5a623';
    const extra = under + over ? `, ${under + over} outside` : '';
    ctx.fillText(`generated (${gen.length}${extra})  at ${eTxt}`, pad.l + 120, 13);
  }
}
