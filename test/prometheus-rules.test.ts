/**
 * infra/prometheus with Debian's Prometheus 2.42: the rules are what the generator writes, promtool
 * accepts them and their unit tests (fast burn pages, slow burn only tickets, a stopped burn
 * resolves), the example scrape config is valid, and a real Prometheus scraping a running
 * Switchyard counts exactly the requests it was sent and evaluates the recording rules.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rulesYaml } from '../infra/prometheus/generate.ts';
import { debianTool } from './helpers/prometheus.ts';
import { freePort } from './helpers/net.ts';
import { startTestSystem, waitFor, type TestSystem } from './helpers/system.ts';

const exec = promisify(execFile);
const INFRA = new URL('../infra/prometheus/', import.meta.url).pathname;

describe('infra/prometheus', () => {
  it('rules.yml is what infra/prometheus/generate.ts writes', async () => {
    expect(await readFile(join(INFRA, 'rules.yml'), 'utf8')).toBe(rulesYaml());
  });

  it('passes promtool check rules, its unit tests, and check config', async () => {
    const promtool = debianTool('promtool');
    const check = await exec(promtool, ['check', 'rules', join(INFRA, 'rules.yml')]);
    expect(check.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const tests = await exec(promtool, ['test', 'rules', join(INFRA, 'rules.test.yml')]);
    expect(tests.stdout).toContain('SUCCESS');
    // The example config, with its token file pointed somewhere that exists.
    const dir = await mkdtemp(join(tmpdir(), 'promcfg-'));
    await writeFile(join(dir, 'token'), 'x\n');
    await copyFile(join(INFRA, 'rules.yml'), join(dir, 'rules.yml'));
    const config = (await readFile(join(INFRA, 'prometheus.yml'), 'utf8')).replace('/etc/prometheus/switchyard-metrics-token', join(dir, 'token'));
    await writeFile(join(dir, 'prometheus.yml'), config);
    const cfg = await exec(promtool, ['check', 'config', join(dir, 'prometheus.yml')]);
    expect(cfg.stdout).toContain('is valid prometheus config file syntax');
  });
});

describe('a real Prometheus scraping Switchyard', () => {
  const TOKEN = 'prometheus-scrape-token-0123456789';
  let sys: TestSystem;
  let prom: ChildProcess;
  let promUrl: string;
  let promLog = '';

  beforeAll(async () => {
    sys = await startTestSystem({ SWITCHYARD_METRICS_TOKEN: TOKEN });
    const dir = await mkdtemp(join(tmpdir(), 'prometheus-'));
    await writeFile(join(dir, 'token'), `${TOKEN}\n`);
    await copyFile(join(INFRA, 'rules.yml'), join(dir, 'rules.yml'));
    const config = (await readFile(join(INFRA, 'prometheus.yml'), 'utf8'))
      .replace('scrape_interval: 15s', 'scrape_interval: 1s')
      .replace('evaluation_interval: 30s', 'evaluation_interval: 1s')
      .replace('/etc/prometheus/switchyard-metrics-token', join(dir, 'token'))
      .replace("'switchyard.internal:8787'", `'${new URL(sys.url).host}'`);
    await writeFile(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    prom = spawn(debianTool('prometheus'), [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout!.on('data', (d) => (promLog += d));
    prom.stderr!.on('data', (d) => (promLog += d));
    await waitFor(async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok, 30_000, `Prometheus to be ready: ${promLog}`);
  }, 60_000);
  afterAll(async () => {
    if (prom && prom.exitCode === null) {
      const exited = new Promise((r) => prom.once('exit', r));
      prom.kill('SIGTERM');
      await exited;
    }
    await sys?.stop();
  });

  const query = async (q: string) => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = await res.json() as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    expect(body.status).toBe('success');
    return body.data.result;
  };

  it('counts exactly the requests it was sent, and the recording rules produce values', async () => {
    // The target is up, with our token.
    await waitFor(async () => (await query('up{job="switchyard"}'))[0]?.value[1] === '1', 20_000, `the target to be up: ${promLog}`);
    const sent = 7;
    const count = 'sum(http_requests_total{job="switchyard",method="GET",route="/v1/projects",status_code="200"})';
    // One request first, seen by a scrape: a series starts at its first value, and a rate needs
    // an increase between two scrapes.
    expect((await sys.api('GET', '/v1/projects?limit=5')).status).toBe(200);
    await waitFor(async () => Number((await query(count))[0]?.value[1] ?? 0) === 1, 20_000, 'the first request to be scraped');
    for (let i = 1; i < sent; i++) expect((await sys.api('GET', '/v1/projects?limit=5')).status).toBe(200);
    expect((await sys.api('GET', '/v1/projects/prj_00000000000000000000000000')).status).toBe(404);
    await waitFor(async () => Number((await query(count))[0]?.value[1] ?? 0) === sent, 20_000, 'the scraped count to reach the requests sent');
    // Scrapes go on; the count stays exact.
    await new Promise((r) => setTimeout(r, 2500));
    expect(Number((await query(count))[0]!.value[1])).toBe(sent);
    expect(Number((await query('sum(http_requests_total{job="switchyard",route="/v1/projects/:id",status_code="404"})'))[0]!.value[1])).toBe(1);
    // The recording rules evaluate over the scraped series: no 5xx, so availability's error ratio is 0.
    // (NaN until a rate window holds two scrapes of the traffic.)
    const ratio = await waitFor(async () => {
      const r = (await query('slo:sli_error:ratio_rate5m{slo="api-availability"}'))[0];
      return r && r.value[1] !== 'NaN' ? r : null;
    }, 20_000, 'the availability SLI to be recorded');
    expect(Number(ratio.value[1])).toBe(0);
    // The platform gauges are there too, read from the database at scrape time.
    const tenants = await query('sum(tenants{job="switchyard"})');
    expect(Number(tenants[0]!.value[1])).toBeGreaterThanOrEqual(1);
    // And nothing is firing.
    const alerts = await (await fetch(`${promUrl}/api/v1/alerts`)).json() as { data: { alerts: Array<{ state: string; labels: Record<string, string> }> } };
    expect(alerts.data.alerts.filter((a) => a.state === 'firing')).toEqual([]);
  }, 60_000);
});
