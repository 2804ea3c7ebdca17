/**
 * infra/grafana: the dashboards are what the generator (Grafana's Foundation SDK) writes, every
 * panel's PromQL parses (promtool), and every metric a panel reads is one Switchyard exports or a
 * recording rule of infra/prometheus: a renamed metric can't leave a dashboard silently empty.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { dashboards, json } from '../infra/grafana/generate.ts';
import { METRICS } from '../core/metrics.ts';
import { WINDOWS } from '../infra/prometheus/generate.ts';
import { debianTool } from './helpers/prometheus.ts';

const exec = promisify(execFile);
const DIR = new URL('../infra/grafana/', import.meta.url).pathname;

interface Panel { type: string; title?: string; targets?: Array<{ expr?: string }>; gridPos?: { x: number; y: number; w: number; h: number } }
const boards = dashboards();
const exprs = Object.entries(boards).flatMap(([file, d]) => ((d.panels ?? []) as Panel[]).flatMap((p) => (p.targets ?? []).map((t) => ({ file, panel: p.title, expr: t.expr! }))));

/** Metric names a PromQL expression reads (label matchers, grouping clauses and functions removed). */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, '').replace(/\b(by|without)\s*\([^)]*\)/g, '').replace(/\[[^\]]*\]/g, '');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?!\s*\()(?=[\s)*/+-]|$)/g)].map((m) => m[1]!)
    .filter((n) => !['and', 'or', 'unless', 'on', 'ignoring', 'bool', 'offset'].includes(n) && !/^\d/.test(n));
}

describe('infra/grafana', () => {
  it('the committed dashboards are what infra/grafana/generate.ts writes', async () => {
    for (const [file, d] of Object.entries(boards)) expect(await readFile(join(DIR, file), 'utf8'), file).toBe(json(d));
  });

  it('has the five dashboards, each with a unique uid, a Prometheus data source variable, and laid-out panels', () => {
    expect(Object.keys(boards).sort()).toEqual(['api.json', 'monitoring.json', 'platform.json', 'queue.json', 'slo.json']);
    expect(new Set(Object.values(boards).map((d) => d.uid)).size).toBe(5);
    for (const d of Object.values(boards)) {
      expect(d.templating?.list?.[0]).toMatchObject({ type: 'datasource', name: 'datasource', query: 'prometheus' });
      for (const p of (d.panels ?? []) as Panel[]) {
        expect(p.gridPos, `${d.title} / ${p.title}`).toBeDefined();
        if (p.type !== 'row') expect(p.targets?.length, `${d.title} / ${p.title}`).toBeGreaterThan(0);
      }
    }
    expect(exprs.length).toBeGreaterThan(40);
  });

  it('every panel query parses (promtool check rules)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grafana-promql-'));
    // Grafana's $__rate_interval becomes a fixed window; each query a recording rule promtool parses.
    const rules = { groups: [{ name: 'grafana-panels', rules: exprs.map((e, i) => ({ record: `grafana:panel_${i}`, expr: e.expr.replaceAll('$__rate_interval', '5m') })) }] };
    await writeFile(join(dir, 'panels.yml'), stringify(rules, { lineWidth: 0 }));
    const { stdout } = await exec(debianTool('promtool'), ['check', 'rules', join(dir, 'panels.yml')]);
    expect(stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('every metric a panel reads is exported by Switchyard or recorded by infra/prometheus', () => {
    const known = new Set<string>();
    for (const [name, def] of Object.entries(METRICS)) {
      known.add(name);
      if (def.type === 'histogram') for (const s of ['_bucket', '_count', '_sum']) known.add(name + s);
    }
    for (const w of WINDOWS) known.add(`slo:sli_error:ratio_rate${w}`);
    const unknown = exprs.flatMap((e) => metricNames(e.expr).filter((n) => !known.has(n)).map((n) => `${e.file} / ${e.panel}: ${n}`));
    expect(unknown).toEqual([]);
    // The check itself sees metric names (a typo would be caught).
    expect(metricNames('sum by (kind) (rate(job_retries_totl{kind="x"}[5m])) / 2')).toEqual(['job_retries_totl']);
  });
});
