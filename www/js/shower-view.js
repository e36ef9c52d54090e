// Rotatable 3-D view of a shower's points on a plain 2-D canvas: layers along the depth
// axis, radius on a log1p scale (see radius.js), points coloured and sized by energy.
// Drag to rotate; it turns slowly by itself until first dragged.

import { color, logScale } from './colormap.js';
import { displayRadius } from './radius.js';

/** A 3-D point view bound to a canvas. */
export class ShowerView {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{layers: Array<{id: number, rEdges: number[]}>}} geometry the model's geometry
   */
  constructor(canvas, geometry) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.layerIds = geometry.layers.map((l) => l.id);
    this.rMax = Math.max(...geometry.layers.map((l) => l.rEdges[l.rEdges.length - 1]));
    this.yaw = 0.7;
    this.pitch = 0.35;
    this.points = null;
    this.spin = true;
    this.#bindDrag();
    const tick = () => {
      if (this.spin && this.points && canvas.isConnected) {
        this.yaw += 0.004;
        this.draw();
      }
      this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
    this.draw();
  }

  #bindDrag() {
    let last = null;
    this.canvas.style.touchAction = 'none';
    this.canvas.addEventListener('pointerdown', (e) => {
      last = [e.clientX, e.clientY];
      this.spin = false;
      this.canvas.setPointerCapture(e.pointerId);
    });
    this.canvas.addEventListener('pointermove', (e) => {
      if (!last) return;
      this.yaw += (e.clientX - last[0]) * 0.01;
      this.pitch = Math.max(-1.5, Math.min(1.5, this.pitch + (e.clientY - last[1]) * 0.01));
      last = [e.clientX, e.clientY];
      this.draw();
    });
    const up = () => (last = null);
    this.canvas.addEventListener('pointerup', up);
    this.canvas.addEventListener('pointercancel', up);
  }

  /** Shows the points (flat `[E, x, y, layer] * n`, MeV and mm). */
  show(points) {
    this.points = points;
    this.draw();
  }

  /** Depth coordinate of a layer id: evenly spaced in the order of the geometry's layers. */
  #depth(layer) {
    const ids = this.layerIds;
    let k = 0;
    let best = Infinity;
    for (let i = 0; i < ids.length; i++) {
      const d = Math.abs(ids[i] - layer);
      if (d < best) {
        best = d;
        k = i;
      }
    }
    return ids.length > 1 ? -1 + (2 * k) / (ids.length - 1) : 0;
  }

  #project(x, y, z, w, h) {
    // depth along the screen's horizontal axis at yaw 0, the shower's transverse plane (x, y) across
    const cy = Math.cos(this.yaw), sy = Math.sin(this.yaw);
    const cp = Math.cos(this.pitch), sp = Math.sin(this.pitch);
    const X = z * 1.6;
    const Y = x;
    const Z = y;
    const x1 = X * cy - Y * sy;
    const y1 = X * sy + Y * cy;
    const y2 = y1 * cp - Z * sp;
    const z2 = y1 * sp + Z * cp;
    const s = Math.min(w, h) * 0.3;
    const persp = 3 / (3 + y2 * 0.4);
    return [w / 2 + x1 * s * persp, h / 2 - z2 * s * persp, y2, persp];
  }

  /** Redraws the view. */
  draw() {
    const { canvas, ctx } = this;
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || canvas.width;
    const h = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#0b0d14';
    ctx.fillRect(0, 0, w, h);
    // layer planes: circles at the outer radius (display scale 1)
    ctx.strokeStyle = 'rgba(140,160,200,0.25)';
    ctx.lineWidth = 1;
    for (const id of this.layerIds) {
      const z = this.#depth(id);
      ctx.beginPath();
      for (let i = 0; i <= 48; i++) {
        const a = (i / 48) * 2 * Math.PI;
        const [px, py] = this.#project(Math.cos(a), Math.sin(a), z, w, h);
        if (i === 0) ctx.moveTo(px, py);
        else ctx.lineTo(px, py);
      }
      ctx.stroke();
    }
    const [ax0, ay0] = this.#project(0, 0, -1.15, w, h);
    const [ax1, ay1] = this.#project(0, 0, 1.15, w, h);
    ctx.strokeStyle = 'rgba(140,160,200,0.5)';
    ctx.beginPath();
    ctx.moveTo(ax0, ay0);
    ctx.lineTo(ax1, ay1);
    ctx.stroke();
    ctx.fillStyle = 'rgba(180,190,220,0.8)';
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText('beam', ax0 - 12, ay0 - 6);
    if (!this.points) {
      ctx.fillText('no shower yet', w / 2 - 35, h / 2);
      return;
    }
    const p = this.points;
    const n = p.length / 4;
    let eMax = 0;
    for (let i = 0; i < n; i++) eMax = Math.max(eMax, p[4 * i]);
    const items = [];
    for (let i = 0; i < n; i++) {
      const e = p[4 * i], x = p[4 * i + 1], y = p[4 * i + 2], l = p[4 * i + 3];
      if (!(e > 0) || !Number.isFinite(x) || !Number.isFinite(y)) continue;
      const r = Math.hypot(x, y);
      const rd = displayRadius(r, this.rMax);
      const a = Math.atan2(y, x);
      const [px, py, depth, persp] = this.#project(rd * Math.cos(a), rd * Math.sin(a), this.#depth(l), w, h);
      items.push([depth, px, py, persp, e]);
    }
    items.sort((a, b) => b[0] - a[0]);
    for (const [, px, py, persp, e] of items) {
      const t = logScale(e, eMax, 4);
      ctx.fillStyle = color(0.15 + 0.85 * t);
      ctx.globalAlpha = 0.55 + 0.45 * t;
      ctx.beginPath();
      ctx.arc(px, py, Math.max(1.2, (1 + 5 * Math.sqrt(Math.max(0, t))) * persp), 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = 'rgba(180,190,220,0.8)';
    ctx.fillText(`${n} points · radius on a log scale · drag to rotate`, 8, h - 8);
  }

  /** Stops the animation. */
  dispose() {
    cancelAnimationFrame(this.frame);
  }
}
