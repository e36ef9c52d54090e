// A perceptual colour map (inferno-like, from dark purple to yellow) for energies.

const STOPS = [
  [0.0, [0, 0, 4]],
  [0.15, [40, 11, 84]],
  [0.3, [101, 21, 110]],
  [0.45, [159, 42, 99]],
  [0.6, [212, 72, 66]],
  [0.75, [245, 125, 21]],
  [0.9, [250, 193, 39]],
  [1.0, [252, 255, 164]],
];

/** CSS colour for `t` in [0, 1] (clamped). */
export function color(t) {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  for (let i = 1; i < STOPS.length; i++) {
    const [t1, c1] = STOPS[i];
    if (u <= t1) {
      const [t0, c0] = STOPS[i - 1];
      const f = (u - t0) / (t1 - t0);
      const c = c0.map((v, k) => Math.round(v + f * (c1[k] - v)));
      return `rgb(${c[0]},${c[1]},${c[2]})`;
    }
  }
  return 'rgb(252,255,164)';
}

/** Position of energy `e` on a log scale spanning `decades` below `eMax`, in [0, 1]. */
export function logScale(e, eMax, decades = 4) {
  if (!(e > 0) || !(eMax > 0)) return 0;
  return 1 + Math.log10(e / eMax) / decades;
}
