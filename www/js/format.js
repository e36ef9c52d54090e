// Small formatting helpers shared by the page and the widget.

/** "256 MeV", "1.02 GeV", "65.5 GeV", "4.19 TeV". */
export function energy(mev) {
  if (mev >= 1e6) return `${(mev / 1e6).toPrecision(3)} TeV`;
  if (mev >= 1e3) return `${(mev / 1e3).toPrecision(3)} GeV`;
  return `${mev.toPrecision(3)} MeV`;
}

/** "12 ms", "3.4 s". */
export function duration(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}
