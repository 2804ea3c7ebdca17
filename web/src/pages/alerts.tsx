/**
 * Alert rules of a project: create one (an event count over a window, or a database metric
 * crossing a bound; a cooldown; a Slack, webhook or PagerDuty channel), with the signing secret
 * shown once; the rules with their channel's health; delete with confirmation; and the firing
 * history from the events store, kept current by the live `log` events. The banner for a rule
 * that fires while a person looks elsewhere is the shell's (AlertBanner).
 */
import { useEffect, useState } from 'preact/hooks';
import type { ApiError } from '../api/client';
import { useCreateForm } from '../components/create-form';
import { useProjectPick } from '../components/project-picker';
import { ConfirmDialog, Empty, Loading, ProblemBox, SecretOnce, StatusBadge, Time } from '../components/ui';
import { LEVELS } from '../components/level-chart';
import { useSession } from '../context';
import { useLive, useRefresh } from '../hooks';
import type { Schemas } from '../../../sdk/src/index.js';

type Rule = Schemas['AlertRule'];
type LogEvent = Schemas['Event'];
const METRICS = ['connections', 'connections_ratio', 'cache_hit_ratio', 'rollback_ratio', 'deadlocks', 'temp_bytes', 'size_bytes'] as const;

const FIELD_OF: Record<string, string> = {
  'filter.level': 'level', 'filter.provider': 'provider', 'filter.q': 'q', 'filter.service': 'q', 'channel.url': 'url', 'channel.routing_key': 'routing_key',
  'channel.type': 'channel', 'metric.name': 'metric', 'metric.above': 'bound', 'metric.below': 'bound', metric: 'metric', threshold: 'threshold',
};

export function describeRule(r: Rule): string {
  if (r.metric) {
    const bound = r.metric.above != null ? `above ${r.metric.above}` : `below ${r.metric.below}`;
    return `${r.metric.name} ${bound}`;
  }
  const f = r.filter as { level?: string; provider?: string; kind?: string; q?: string; service?: string };
  const what = [f.level, f.kind, 'events', f.provider && `from ${f.provider}`, f.service && `of ${f.service}`, f.q && `containing “${f.q}”`].filter(Boolean).join(' ');
  return `${r.threshold}+ ${what}`;
}

function CreateRuleForm({ projectId, onCreated }: { projectId: string; onCreated: (r: Rule, secret: string | undefined) => void }) {
  const { api } = useSession();
  const { fields, set, submit, control, field, form } = useCreateForm('alert', {
    name: '', mode: 'events', level: 'error', provider: '', q: '', threshold: '10', metric: 'connections_ratio', direction: 'above', bound: '0.8',
    window: '5m', cooldown: '', channel: 'webhook', url: '', routing_key: '',
  }, { fieldOf: (p) => FIELD_OF[p] });
  const onSubmit = submit(async (f) => {
    const channel = f.channel === 'pagerduty' ? { type: 'pagerduty' as const, routing_key: f.routing_key } : { type: f.channel as 'webhook', url: f.url };
    const condition = f.mode === 'metric'
      ? { metric: { name: f.metric as (typeof METRICS)[number], [f.direction]: Number(f.bound) } }
      : {
          threshold: Number(f.threshold),
          filter: { ...(f.level ? { level: f.level as 'error' } : {}), ...(f.provider ? { provider: f.provider as 'render' } : {}), ...(f.q ? { q: f.q } : {}) },
        };
    const res = await api.POST('/v1/alert-rules', {
      body: { project: projectId, name: f.name, window: f.window, ...(f.cooldown ? { cooldown: f.cooldown } : {}), channel, ...condition },
    });
    onCreated(res.alert_rule, res.signing_secret);
    return { ...f, name: '', q: '' };
  });
  return form('New alert rule', 'Create rule', onSubmit, <>
    {field('name', 'Rule name', <input {...control('name')} value={fields.name} onInput={set('name')} required maxLength={100} />)}
    {field('mode', 'Watch', (
      <select {...control('mode')} value={fields.mode} onChange={set('mode')}>
        <option value="events">a count of events</option><option value="metric">a database metric</option>
      </select>
    ))}
    {fields.mode === 'events' ? <>
      {field('threshold', 'At least (events)', <input {...control('threshold')} inputMode="numeric" value={fields.threshold} onInput={set('threshold')} />)}
      {field('level', 'Level', (
        <select {...control('level')} value={fields.level} onChange={set('level')}>
          <option value="">any</option>{LEVELS.map((l) => <option value={l}>{l}</option>)}
        </select>
      ))}
      {field('provider', 'From', (
        <select {...control('provider')} value={fields.provider} onChange={set('provider')}>
          <option value="">any provider</option><option value="supabase">supabase</option><option value="render">render</option><option value="sentry">sentry</option>
        </select>
      ))}
      {field('q', 'Message contains', <input {...control('q')} value={fields.q} onInput={set('q')} placeholder="optional" />)}
    </> : <>
      {field('metric', 'Metric', (
        <select {...control('metric')} value={fields.metric} onChange={set('metric')}>{METRICS.map((m) => <option value={m}>{m}</option>)}</select>
      ))}
      {field('direction', 'When', (
        <select {...control('direction')} value={fields.direction} onChange={set('direction')}><option value="above">above</option><option value="below">below</option></select>
      ))}
      {field('bound', 'Bound', <input {...control('bound')} inputMode="decimal" value={fields.bound} onInput={set('bound')} />)}
    </>}
    {field('window', 'Window', <input {...control('window')} value={fields.window} onInput={set('window')} />, 'such as 30s, 5m, 1h')}
    {field('cooldown', 'Cooldown', <input {...control('cooldown')} value={fields.cooldown} onInput={set('cooldown')} placeholder="the window" />, 'at most one firing per cooldown')}
    {field('channel', 'Notify by', (
      <select {...control('channel')} value={fields.channel} onChange={set('channel')}>
        <option value="webhook">webhook</option><option value="slack">Slack</option><option value="pagerduty">PagerDuty</option>
      </select>
    ))}
    {fields.channel === 'pagerduty'
      ? field('routing_key', 'Routing key', <input {...control('routing_key')} type="password" autocomplete="off" value={fields.routing_key} onInput={set('routing_key')} />, 'sealed; never shown again')
      : field('url', fields.channel === 'slack' ? 'Slack webhook URL' : 'Webhook URL', <input {...control('url')} type="url" value={fields.url} onInput={set('url')} placeholder="https://…" />)}
  </>);
}

export function AlertsPage({ query }: { query: URLSearchParams }) {
  const { api } = useSession();
  const { project, picker, blocker } = useProjectPick('alerts', query);
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [history, setHistory] = useState<LogEvent[] | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<Rule | null>(null);

  const load = async () => {
    if (!project) return;
    const [r, h] = await Promise.all([
      api.GET('/v1/alert-rules', { params: { query: { project: project.id } } }),
      api.GET('/v1/logs', { params: { query: { project: project.id, kind: 'alert', limit: 20, since: new Date(Date.now() - 7 * 86_400_000).toISOString() } } }),
    ]);
    setRules(r.data);
    setHistory(h.data);
    setError(null);
  };
  const refresh = useRefresh(() => load().catch((e: ApiError) => { setError(e); setRules((x) => x ?? []); setHistory((x) => x ?? []); }));
  useEffect(() => {
    setRules(null);
    setHistory(null);
    refresh();
  }, [project?.id]);
  useLive((e) => {
    if (e.event === 'resync' || (e.event === 'log' && e.data.type !== 'events' && e.data.project_id === project?.id)) refresh();
    // A notification's outcome changes the channel's health.
    if (e.event === 'job' && e.data.kind === 'alerts.notify' && (e.data.status === 'succeeded' || e.data.status === 'dead' || e.data.status === 'queued')) refresh();
  });

  const remove = async () => {
    const r = deleting;
    setDeleting(null);
    if (!r) return;
    try {
      await api.DELETE('/v1/alert-rules/{id}', { params: { path: { id: r.id } } });
      setRules((list) => (list ?? []).filter((x) => x.id !== r.id));
    } catch (e) {
      setError(e as ApiError);
    }
  };

  return (
    <section aria-labelledby="alerts-title">
      <h1 id="alerts-title">Alerts</h1>
      {picker}
      {blocker ?? (project && (
        <>
          {secret ? <SecretOnce label="Signing secret" value={secret} onDone={() => setSecret(null)} /> : (
            <CreateRuleForm projectId={project.id} onCreated={(r, s) => { setRules((list) => [r, ...(list ?? [])]); if (s) setSecret(s); }} />
          )}
          <ProblemBox error={error} onDismiss={() => setError(null)} />
          <h2>Rules</h2>
          {rules === null ? <Loading what="alert rules" /> : rules.length === 0 ? <Empty>No alert rules for {project.name} yet.</Empty> : (
            <table class="resources" aria-label="Alert rules">
              <thead><tr><th scope="col">Name</th><th scope="col">Condition</th><th scope="col">Channel</th><th scope="col">State</th><th scope="col">Firings</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {rules.map((r) => (
                  <tr key={r.id} data-id={r.id} data-name={r.name}>
                    <td data-label="Name">{r.name}</td>
                    <td data-label="Condition">{describeRule(r)}<small class="progress">over {r.window_s} s, cooldown {r.cooldown_s} s</small></td>
                    <td data-label="Channel" data-testid="channel">
                      {r.channel.type} · {r.channel.host}
                      {r.channel.healthy ? <small class="progress">healthy{r.channel.last_success_at ? ', last sent ' : ''}{r.channel.last_success_at && <Time iso={r.channel.last_success_at} />}</small>
                        : <small class="progress error-text">failing ({r.channel.consecutive_failures} in a row): {r.channel.last_error}</small>}
                    </td>
                    <td data-label="State">{r.firing_since ? <StatusBadge status="firing" /> : <StatusBadge status="ok" />}</td>
                    <td data-label="Firings">{r.firings}{r.last_fired_at && <small class="progress">last <Time iso={r.last_fired_at} /></small>}</td>
                    <td data-label="Actions"><button type="button" class="small danger" onClick={() => setDeleting(r)} aria-label={`Delete rule ${r.name}`}>Delete</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <h2>Firing history</h2>
          {history === null ? <Loading what="firings" /> : history.length === 0 ? <Empty>No alert has fired for {project.name} in the last 7 days.</Empty> : (
            <ol class="timeline" aria-label="Firing history">
              {history.map((e) => (
                <li key={e.id} data-level={e.level}>
                  <span class="timeline-type">{(e.attrs as { rule_name?: string }).rule_name ?? 'alert'} · {e.level === 'info' ? 'resolved' : 'fired'}</span>
                  <span class="timeline-text">{e.message}</span>
                  <Time iso={e.ts} />
                </li>
              ))}
            </ol>
          )}
        </>
      ))}
      <ConfirmDialog open={!!deleting} title={deleting ? `Delete rule ${deleting.name}?` : ''}
        message="It stops being evaluated and notifies no one. Its past firings stay in the history." confirmLabel="Delete" danger
        onConfirm={remove} onCancel={() => setDeleting(null)} />
    </section>
  );
}
