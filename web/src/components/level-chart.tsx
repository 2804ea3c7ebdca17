/**
 * Events per minute (or hour) by level, stacked, drawn by uPlot (a small canvas chart, bundled:
 * no CDN). uPlot has no stacking of its own: each level's bar is drawn at the running total of
 * the levels below it, tallest first, and the legend shows each level's own count. The canvas is
 * hidden from assistive technology; the same numbers are in a summary and a table beside it.
 */
import { useEffect, useRef } from 'preact/hooks';
import type uPlot from 'uplot';

/** uPlot and its stylesheet load with the first chart, not with the dashboard. */
const loadUPlot = () => Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default);

export const LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
export type Level = (typeof LEVELS)[number];
const COLORS: Record<Level, string> = { debug: '#8d8d95', info: '#3b82f6', warn: '#d97706', error: '#dc2626', fatal: '#7f1d1d' };

const stepOf = (u: uPlot) => {
  const x = u.data[0];
  return x.length > 1 ? x[1]! - x[0]! : 60;
};

export interface Bucket { ts: string; level: Level; count: number }

/** Buckets from `since` to `until` at `stepMs`, every level counted (zeros included). */
export function binned(buckets: Bucket[], since: Date, until: Date, stepMs: number) {
  const start = Math.floor(since.getTime() / stepMs) * stepMs;
  const n = Math.max(1, Math.ceil((until.getTime() - start) / stepMs));
  const xs = Array.from({ length: n }, (_, i) => (start + i * stepMs) / 1000);
  const counts = Object.fromEntries(LEVELS.map((l) => [l, new Array<number>(n).fill(0)])) as Record<Level, number[]>;
  for (const b of buckets) {
    const i = Math.floor((Date.parse(b.ts) - start) / stepMs);
    if (i >= 0 && i < n) counts[b.level][i]! += b.count;
  }
  return { xs, counts };
}

export function LevelChart({ xs, counts, interval, label }: { xs: number[]; counts: Record<Level, number[]>; interval: '1m' | '1h'; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // Running totals, bottom (debug) to top (fatal); drawn top first so each lower band covers its part.
  const stacked: Record<Level, number[]> = {} as Record<Level, number[]>;
  let below = new Array<number>(xs.length).fill(0);
  for (const l of LEVELS) {
    below = below.map((v, i) => v + counts[l][i]!);
    stacked[l] = below;
  }
  const order = [...LEVELS].reverse();
  const data: uPlot.AlignedData = [xs, ...order.map((l) => stacked[l])];

  const latest = useRef(data);
  latest.current = data;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    let gone = false;
    let ro: ResizeObserver | null = null;
    void loadUPlot().then((UPlot) => {
    if (gone) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      // The last bucket's bar starts at its time and needs its width to the right of it.
      scales: { x: { time: true, range: (u, min, max) => [min, max + stepOf(u)] }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      axes: [{ stroke: '#8d8d95' }, { stroke: '#8d8d95', size: 40 }],
      series: [
        { value: (_u, v) => (v == null ? '—' : new Date(v * 1000).toLocaleString()) },
        ...order.map((l) => ({
          label: l,
          stroke: COLORS[l],
          fill: COLORS[l],
          width: 0,
          paths: UPlot.paths.bars!({ size: [0.9, 40], align: 1 }),
          points: { show: false },
          // The legend shows the level's own count, not the running total it is drawn at.
          value: (u: uPlot, _v: number, si: number, i: number | null) => {
            if (i == null) return '—';
            const mine = u.data[si]![i] ?? 0;
            const next = si < order.length ? (u.data[si + 1]![i] ?? 0) : 0;
            return String(mine - next);
          },
        })),
      ],
      legend: { show: true },
      cursor: { points: { show: false } },
    };
    plot.current = new UPlot(opts, latest.current, el);
    ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    ro.observe(el);
    });
    return () => {
      gone = true;
      ro?.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  }, [xs, counts]);

  const total = LEVELS.reduce((n, l) => n + counts[l].reduce((a, b) => a + b, 0), 0);
  const byLevel = LEVELS.map((l) => ({ l, n: counts[l].reduce((a, b) => a + b, 0) })).filter((x) => x.n > 0);
  const rows = xs.map((x, i) => ({ x, per: LEVELS.map((l) => counts[l][i]!) })).filter((r) => r.per.some((n) => n > 0));
  const unit = interval === '1m' ? 'minute' : 'hour';
  return (
    <figure class="card level-chart" aria-labelledby="level-chart-title">
      <figcaption id="level-chart-title">{label}: events per {unit} by level</figcaption>
      <div ref={box} class="level-chart-plot" aria-hidden="true" />
      <p class="muted" data-testid="chart-summary">
        {total === 0 ? 'No events in this range.' : `${total} events: ${byLevel.map((x) => `${x.n} ${x.l}`).join(', ')}.`}
      </p>
      {rows.length > 0 && (
        <details>
          <summary>The counts as a table</summary>
          <table class="explain" aria-label={`Events per ${unit} by level`}>
            <thead><tr><th scope="col">{unit === 'minute' ? 'Minute' : 'Hour'} (starting)</th>{LEVELS.map((l) => <th scope="col">{l}</th>)}</tr></thead>
            <tbody>
              {rows.map((r) => (
                <tr data-bucket={new Date(r.x * 1000).toISOString()}>
                  <td><time dateTime={new Date(r.x * 1000).toISOString()}>{new Date(r.x * 1000).toLocaleString()}</time></td>
                  {r.per.map((n, i) => <td data-level={LEVELS[i]}>{n}</td>)}
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </figure>
  );
}
