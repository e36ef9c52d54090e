// Per-layer heatmaps of voxel energies in the real geometry: each voxel drawn as its
// annular sector (radial bin x angular bin), radius on a log1p scale (see radius.js).

import { color, logScale } from './colormap.js';
import { displayRadius, KNEE_MM } from './radius.js';

/** One canvas per layer with voxels, inside a container element. */
export class LayerHeatmaps {
  /**
   * @param {HTMLElement} container
   * @param {{layers: Array<{id: number, offset: number, nAlpha: number, rEdges: number[]}>}} geometry
   */
  constructor(container, geometry) {
    this.layers = geometry.layers;
    this.canvases = this.layers.map((l) => {
      const fig = document.createElement('figure');
      fig.className = 'layer';
      const c = document.createElement('canvas');
      c.width = 160;
      c.height = 160;
      const cap = document.createElement('figcaption');
      cap.textContent = `layer ${l.id}`;
      fig.append(c, cap);
      container.append(fig);
      return { canvas: c, caption: cap };
    });
    this.show(null);
  }

  /** Draws voxel energies (MeV, official order), or empty layers for `null`. */
  show(voxels) {
    let eMax = 0;
    if (voxels) for (const v of voxels) eMax = Math.max(eMax, v);
    this.layers.forEach((l, k) => {
      const { canvas, caption } = this.canvases[k];
      const ctx = canvas.getContext('2d');
      const w = canvas.width, h = canvas.height;
      const R = Math.min(w, h) / 2 - 4;
      ctx.fillStyle = '#0b0d14';
      ctx.fillRect(0, 0, w, h);
      const nR = l.rEdges.length - 1;
      const rMax = l.rEdges[nR];
      let sum = 0;
      for (let a = 0; a < l.nAlpha; a++) {
        for (let r = 0; r < nR; r++) {
          const e = voxels ? voxels[l.offset + a * nR + r] : 0;
          sum += e;
          const r0 = displayRadius(l.rEdges[r], rMax) * R;
          const r1 = displayRadius(l.rEdges[r + 1], rMax) * R;
          ctx.fillStyle = e > 0 ? color(0.1 + 0.9 * logScale(e, eMax, 4)) : '#161a26';
          ctx.beginPath();
          if (l.nAlpha === 1) {
            ctx.arc(w / 2, h / 2, r1, 0, 2 * Math.PI);
            ctx.arc(w / 2, h / 2, r0, 2 * Math.PI, 0, true);
          } else {
            // angle bins start at -pi; canvas y points down, so negate angles
            const a0 = -Math.PI + (a * 2 * Math.PI) / l.nAlpha;
            const a1 = a0 + (2 * Math.PI) / l.nAlpha;
            ctx.arc(w / 2, h / 2, r1, -a0, -a1, true);
            ctx.arc(w / 2, h / 2, r0, -a1, -a0, false);
          }
          ctx.closePath();
          ctx.fill();
          ctx.strokeStyle = 'rgba(255,255,255,0.06)';
          ctx.stroke();
        }
      }
      caption.textContent = `layer ${l.id} · ${voxels ? (sum / 1000).toFixed(2) + ' GeV' : '—'} · r ≤ ${rMax} mm`;
      canvas.title = `layer ${l.id}: ${nR} radial x ${l.nAlpha} angular bins, radius log1p(r/${KNEE_MM} mm) scaled`;
    });
  }
}
