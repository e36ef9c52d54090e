// Radial display scale: showers are dense within millimetres of the axis but the outer bins
// reach metres, so radii are drawn on a log1p scale.

/** Radius in mm for the scale's knee: radii well below it are linear, above it logarithmic. */
export const KNEE_MM = 2;

/** Display radius of a physical radius `r` (mm), in units where `rMax` maps to 1. */
export function displayRadius(r, rMax) {
  return Math.log1p(Math.max(0, r) / KNEE_MM) / Math.log1p(rMax / KNEE_MM);
}
