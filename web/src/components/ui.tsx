/** Small shared pieces: problem display, status badges, confirmation dialog, time, timeline. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ComponentChildren } from 'preact';
import type { ApiError, JobEvent } from '../api/client';

export function ProblemBox({ error, onDismiss }: { error: ApiError | null; onDismiss?: () => void }) {
  if (!error) return null;
  const p = error.problem;
  return (
    <div class="problem" role="alert">
      <strong class="problem-title">{p.title}</strong>
      {p.detail && <p class="problem-detail">{p.detail}</p>}
      {p.request_id && <p class="problem-request">Request ID: <code>{p.request_id}</code></p>}
      {onDismiss && <button type="button" class="link" onClick={onDismiss}>Dismiss</button>}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`} data-status={status}>{status}</span>;
}

export function Time({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  const d = new Date(iso);
  return <time dateTime={iso} title={d.toISOString()}>{d.toLocaleString()}</time>;
}

export function Loading({ what }: { what: string }) {
  return <p class="muted" role="status" aria-live="polite">Loading {what}…</p>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** A modal confirmation (the native <dialog>: focus trapping and Escape come with it). */
export function ConfirmDialog(props: {
  open: boolean; title: string; message: string; confirmLabel: string; danger?: boolean;
  onConfirm: () => void; onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      {props.open && (
        <>
          <h2 id="confirm-title">{props.title}</h2>
          <p>{props.message}</p>
          <div class="actions">
            <button type="button" onClick={props.onCancel}>Cancel</button>
            <button type="button" class={props.danger ? 'danger' : 'primary'} onClick={props.onConfirm}>{props.confirmLabel}</button>
          </div>
        </>
      )}
    </dialog>
  );
}

const describeEvent = (e: { type: string; data: Record<string, unknown> }) => {
  const d = e.data as { message?: string; error?: string; attempt?: number; step?: number };
  if (d.message) return d.message;
  if (d.error) return d.error;
  if (d.step != null) return `step ${d.step}`;
  if (d.attempt != null) return `attempt ${d.attempt}`;
  return '';
};

/** A job timeline, newest last. */
export function Timeline({ events, label }: { events: Array<JobEvent & { kind?: string }>; label: string }) {
  if (events.length === 0) return <Empty>No steps yet.</Empty>;
  return (
    <ol class="timeline" aria-label={label}>
      {events.map((e) => (
        <li key={e.id} data-type={e.type}>
          <span class="timeline-type">{e.kind ? `${e.kind} · ` : ''}{e.type}</span>
          <span class="timeline-text">{describeEvent(e)}</span>
          <Time iso={e.created_at} />
        </li>
      ))}
    </ol>
  );
}

/** Copies a value; says so for a moment (and in the live region, for screen readers). */
export function CopyButton({ value, label }: { value: string; label: string }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
    setTimeout(() => setCopied(null), 2000);
  };
  return (
    <button type="button" class="small" onClick={copy} aria-label={label}>
      {copied === 'yes' ? 'Copied' : copied === 'no' ? 'Copy failed: select and copy' : 'Copy'}
      <span class="sr-only" aria-live="polite">{copied === 'yes' ? 'copied to the clipboard' : ''}</span>
    </button>
  );
}

/** A secret the API shows only once: read-only, with a copy button and a plain warning. */
export function SecretOnce({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  const id = `secret-${label.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <div class="card secret-once" role="region" aria-label={`${label}, shown once`}>
      <p class="warning"><strong>Copy it now.</strong> This is the only time it is shown; Switchyard keeps only a hash or a sealed copy.</p>
      <div class="field secret">
        <label for={id}>{label}</label>
        <div class="with-button">
          <input id={id} readOnly value={value} onFocus={(e) => (e.target as HTMLInputElement).select()} />
          <CopyButton value={value} label={`Copy ${label}`} />
        </div>
      </div>
      <button type="button" onClick={onDone}>I have stored it</button>
    </div>
  );
}

/** A side panel over the page (a modal <dialog>: focus stays inside, Escape closes it). */
export function Drawer({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="drawer" aria-labelledby="drawer-title" onCancel={(e) => { e.preventDefault(); onClose(); }}>
      {open && (
        <>
          <div class="drawer-head">
            <h2 id="drawer-title">{title}</h2>
            <button type="button" onClick={onClose}>Close</button>
          </div>
          {children}
        </>
      )}
    </dialog>
  );
}

/** How long ago, in words a person reads at a glance ("4 s", "3 min", "2 h", "5 d"). */
export function ago(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} d`;
}
