/**
 * Rollouts: the live list, and a detail view with canary against baseline per metric over time,
 * the step and weight, the decision timeline with each explanation, a person's buttons, and a
 * backtest of another policy beside the real decisions.
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, type Decision, type Rollout } from '../api/client';
import { ConfirmDialog, Empty, Loading, ProblemBox, StatusBadge, Time } from '../components/ui';
import { useSession } from '../context';
import { useLiveList } from '../live-list';

type Action = 'pause' | 'resume' | 'promote' | 'abort';
const ACTIONS: Record<Action, { label: string; from: Rollout['status'][]; confirm: string; danger?: boolean }> = {
  pause: { label: 'Pause', from: ['running'], confirm: 'The judge stops acting until someone resumes the rollout.' },
  resume: { label: 'Resume', from: ['paused'], confirm: 'The judge acts on its decisions again.' },
  promote: { label: 'Promote step', from: ['running', 'paused'], confirm: 'The canary moves to the next step now, whatever the judge says.' },
  abort: { label: 'Abort', from: ['pending', 'running', 'paused'], confirm: 'The rollout ends; its traffic should go back to the baseline.', danger: true },
};

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(2)}%`);

export function RolloutsPage() {
  const { api } = useSession();
  const list = useLiveList<Rollout>({
    type: 'rollout',
    loadPage: (cursor) => api.GET('/v1/rollouts', { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } }),
    loadOne: async (id) => (await api.GET('/v1/rollouts/{id}', { params: { path: { id } } })).rollout,
  });
  return (
    <section aria-labelledby="rollouts-title">
      <h1 id="rollouts-title">Rollouts</h1>
      <ProblemBox error={list.error} onDismiss={() => list.setError(null)} />
      {list.items === null ? <Loading what="rollouts" /> : list.items.length === 0 ? (
        <Empty>No rollouts yet. Start one with <code>POST /v1/rollouts</code>, or from Argo Rollouts or Flagger.</Empty>
      ) : (
        <table class="resources" aria-label="Rollouts">
          <thead><tr><th>Service</th><th>Baseline → canary</th><th>Policy</th><th>Status</th><th>Weight</th><th>Updated</th></tr></thead>
          <tbody>
            {list.items.map((r) => (
              <tr key={r.id} data-id={r.id}>
                <td data-label="Service"><a href={`#/rollouts/${r.id}`}>{r.service}</a></td>
                <td data-label="Versions"><code>{r.baseline.version}</code> → <code>{r.canary.version}</code></td>
                <td data-label="Policy">{r.policy.name}@{r.policy.version}</td>
                <td data-label="Status"><StatusBadge status={r.status} /></td>
                <td data-label="Weight">{r.step.weight}% (step {r.step.index + 1})</td>
                <td data-label="Updated"><Time iso={r.updated_at} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {list.next && <button type="button" onClick={() => list.loadMore(list.next)}>Load more</button>}
    </section>
  );
}

interface MetricPoint { at: string; baseline: number | null; canary: number | null }
type Explained = { name: string; kind: string; bound: string; outcome: string; note: string; window: Record<'baseline' | 'canary', { requests: number; error_rate: number | null; quantile_ms?: number | null }> };

/** Per metric, the canary's and the baseline's value in each judged window, oldest first. */
function seriesOf(decisions: Decision[]): Map<string, { kind: string; points: MetricPoint[] }> {
  const out = new Map<string, { kind: string; points: MetricPoint[] }>();
  for (const d of [...decisions].reverse()) {
    if (d.shadow) continue;
    for (const m of ((d.explanation as { metrics?: Explained[] }).metrics ?? [])) {
      if (m.kind === 'throughput') continue;
      const value = (t: 'baseline' | 'canary') => (m.kind === 'error_rate' ? m.window[t].error_rate : m.window[t].quantile_ms ?? null);
      const s = out.get(m.name) ?? { kind: m.kind, points: [] };
      s.points.push({ at: d.window.end, baseline: value('baseline'), canary: value('canary') });
      out.set(m.name, s);
    }
  }
  return out;
}

/** Two lines in an SVG (no charting library for two series): the baseline and the canary. */
function MetricChart({ name, kind, points }: { name: string; kind: string; points: MetricPoint[] }) {
  const W = 320;
  const H = 90;
  const values = points.flatMap((p) => [p.baseline, p.canary]).filter((v): v is number => v !== null);
  const max = Math.max(...values, kind === 'error_rate' ? 0.001 : 1);
  const x = (i: number) => (points.length < 2 ? W / 2 : (i / (points.length - 1)) * (W - 10) + 5);
  const y = (v: number) => H - 5 - (v / max) * (H - 15);
  const line = (track: 'baseline' | 'canary') => points.map((p, i) => (p[track] === null ? null : `${x(i)},${y(p[track]!)}`)).filter(Boolean).join(' ');
  const fmt = (v: number | null) => (v === null ? '—' : kind === 'error_rate' ? pct(v) : `${Math.round(v)} ms`);
  const last = points.at(-1);
  const summary = `${name}: canary ${fmt(last?.canary ?? null)}, baseline ${fmt(last?.baseline ?? null)} in the last window, over ${points.length} windows`;
  return (
    <figure class="card chart" data-metric={name}>
      <figcaption><strong>{name}</strong> <span class="legend"><span class="swatch baseline" /> baseline <span class="swatch canary" /> canary</span></figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={summary} width="100%" height={H}>
        <polyline class="line baseline" points={line('baseline')} fill="none" vector-effect="non-scaling-stroke" />
        <polyline class="line canary" points={line('canary')} fill="none" vector-effect="non-scaling-stroke" />
      </svg>
      <p class="muted">{summary}</p>
    </figure>
  );
}

function DecisionItem({ d }: { d: Decision }) {
  const metrics = ((d.explanation as { metrics?: Explained[] }).metrics ?? []);
  const policy = (d.explanation as { policy?: { name: string; version: number } }).policy;
  return (
    <li class={`decision verdict-${d.verdict}`} data-verdict={d.verdict} data-shadow={d.shadow ? 'true' : 'false'}>
      <p>
        <StatusBadge status={d.verdict} /> {d.shadow && <span class="badge badge-shadow">shadow{policy ? `: ${policy.name}@${policy.version}` : ''}</span>}{' '}
        <span class="sentence">{d.sentence}</span>
      </p>
      <details>
        <summary>Step {d.step_index + 1}, window <Time iso={d.window.start} /> – <Time iso={d.window.end} /></summary>
        <table class="explain" aria-label="Metrics of this decision">
          <thead><tr><th>Metric</th><th>Bound</th><th>Baseline</th><th>Canary</th><th>Outcome</th></tr></thead>
          <tbody>
            {metrics.map((m) => (
              <tr key={m.name}>
                <td>{m.name}</td><td>{m.bound}</td>
                <td>{m.window.baseline.requests} req, {m.kind === 'error_rate' ? pct(m.window.baseline.error_rate) : `${m.window.baseline.quantile_ms ?? '—'} ms`}</td>
                <td>{m.window.canary.requests} req, {m.kind === 'error_rate' ? pct(m.window.canary.error_rate) : `${m.window.canary.quantile_ms ?? '—'} ms`}</td>
                <td title={m.note}>{m.outcome}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </li>
  );
}

interface BacktestResult {
  backtest: Array<{ window_end: string; step_index: number; verdict: string; sentence: string }>;
  actual: Array<{ window_end: string; step_index: number; verdict: string; sentence: string }>;
  first_difference: { index: number } | null;
}

function Backtest({ id }: { id: string }) {
  const { api } = useSession();
  const [policy, setPolicy] = useState('');
  const [result, setResult] = useState<BacktestResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const text = policy.trim();
      const body = /^[a-z][a-z0-9-]{1,62}(@\d+)?$/.test(text) ? { policy: text } : { yaml: text };
      setResult((await api.POST('/v1/rollouts/{id}/backtest', { params: { path: { id } }, body })) as unknown as BacktestResult);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  const rows = result ? Math.max(result.backtest.length, result.actual.length) : 0;
  return (
    <section aria-labelledby="backtest-title" class="card">
      <h2 id="backtest-title">Backtest another policy</h2>
      <form onSubmit={run}>
        <label for="backtest-policy">Policy (<code>name@version</code>, or YAML)</label>
        <textarea id="backtest-policy" rows={4} value={policy} onInput={(e) => setPolicy((e.target as HTMLTextAreaElement).value)} required />
        <button type="submit" disabled={busy}>{busy ? 'Replaying…' : 'Replay over this rollout\'s telemetry'}</button>
      </form>
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      {result && (
        <>
          <p role="status" class="backtest-summary">
            {result.first_difference === null ? 'The same decisions as the real ones.' : `First difference at window ${result.first_difference.index + 1}.`}
          </p>
          <table class="explain" aria-label="Backtest beside the real decisions">
            <thead><tr><th>Window end</th><th>This policy</th><th>Real</th></tr></thead>
            <tbody>
              {Array.from({ length: rows }, (_, i) => {
                const b = result.backtest[i];
                const a = result.actual[i];
                return (
                  <tr key={i} class={result.first_difference?.index === i ? 'differs' : undefined}>
                    <td><Time iso={(b ?? a)!.window_end} /></td>
                    <td>{b ? `${b.verdict} (step ${b.step_index + 1})` : '—'}</td>
                    <td>{a ? `${a.verdict} (step ${a.step_index + 1})` : '—'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function RolloutPage({ id }: { id: string }) {
  const { api, onLive } = useSession();
  const [rollout, setRollout] = useState<Rollout | null>(null);
  const [decisions, setDecisions] = useState<Decision[]>([]);
  const [error, setError] = useState<ApiError | null>(null);
  const [pending, setPending] = useState<Action | null>(null);

  const loadDecisions = async () => setDecisions((await api.GET('/v1/rollouts/{id}/decisions', { params: { path: { id }, query: { limit: 100 } } })).data);
  const load = async () => {
    try {
      setRollout((await api.GET('/v1/rollouts/{id}', { params: { path: { id } } })).rollout);
      await loadDecisions();
    } catch (e) {
      setError(e as ApiError);
    }
  };
  useEffect(() => {
    void load();
    return onLive((e) => {
      if (e.event === 'status' && e.data.resource.id === id) void load();
      if (e.event === 'decision' && e.data.rollout_id === id) void loadDecisions().catch(() => {});
      if (e.event === 'resync') void load();
    });
  }, [id]);

  const act = async () => {
    const action = pending;
    setPending(null);
    if (!action) return;
    try {
      setRollout((await api.POST('/v1/rollouts/{id}/{action}', { params: { path: { id, action } } })).rollout);
    } catch (e) {
      setError(e as ApiError);
    }
  };

  if (!rollout) return error ? <ProblemBox error={error} /> : <Loading what="rollout" />;
  const series = seriesOf(decisions);
  return (
    <section aria-labelledby="rollout-title">
      <p><a href="#/rollouts">← Rollouts</a></p>
      <h1 id="rollout-title">{rollout.service} <StatusBadge status={rollout.status} /></h1>
      <ProblemBox error={error} onDismiss={() => setError(null)} />
      <dl class="facts">
        <dt>Baseline → canary</dt><dd><code>{rollout.baseline.version}</code> → <code>{rollout.canary.version}</code></dd>
        <dt>Step</dt><dd data-testid="step">{rollout.step.index + 1}: {rollout.step.weight}% of traffic{rollout.step.started_at && <>, since <Time iso={rollout.step.started_at} /></>}</dd>
        <dt>Policy</dt><dd>{rollout.policy.name}@{rollout.policy.version}{rollout.shadow_policies.length > 0 && <> (shadows: {rollout.shadow_policies.map((s) => `${s.name}@${s.version}`).join(', ')})</>}</dd>
        {rollout.notify && <><dt>Notifications</dt><dd>{rollout.notify.host}{rollout.notify.failures > 0 ? <span class="error-text"> — {rollout.notify.failures} failed in a row: {rollout.notify.last_error}</span> : rollout.notify.last_success_at ? <> — last sent <Time iso={rollout.notify.last_success_at} /></> : null}</dd></>}
        {rollout.last_error && <><dt>Last error</dt><dd class="error-text">{rollout.last_error}</dd></>}
      </dl>
      <div class="actions">
        {(Object.keys(ACTIONS) as Action[]).filter((a) => ACTIONS[a].from.includes(rollout.status)).map((a) => (
          <button type="button" class={ACTIONS[a].danger ? 'danger' : undefined} onClick={() => setPending(a)}>{ACTIONS[a].label}</button>
        ))}
      </div>
      <h2>Canary against baseline</h2>
      {series.size === 0 ? <Empty>No window judged yet.</Empty> : (
        <div class="charts">{[...series].map(([name, s]) => <MetricChart key={name} name={name} kind={s.kind} points={s.points} />)}</div>
      )}
      <h2>Decisions</h2>
      {decisions.length === 0 ? <Empty>No decisions yet: the first comes one interval after the rollout starts.</Empty> : (
        <ol class="decisions" aria-label="Decision timeline" aria-live="polite">{decisions.map((d) => <DecisionItem key={d.id} d={d} />)}</ol>
      )}
      <Backtest id={id} />
      <ConfirmDialog
        open={!!pending}
        title={pending ? `${ACTIONS[pending].label} this rollout?` : ''}
        message={pending ? ACTIONS[pending].confirm : ''}
        confirmLabel={pending ? ACTIONS[pending].label : ''}
        danger={!!pending && !!ACTIONS[pending].danger}
        onConfirm={act}
        onCancel={() => setPending(null)}
      />
    </section>
  );
}
