/**
 * The create forms' shared behaviour: field state, a submit that sends once (with a fresh
 * Idempotency-Key), the API's field errors placed next to their fields, anything else shown as
 * the problem, and labelled fields wired to their hint or error for assistive technology.
 */
import { useState } from 'preact/hooks';
import type { ComponentChildren, JSX } from 'preact';
import type { ApiError } from '../api/client';
import { ProblemBox } from './ui';

export function useCreateForm<F extends Record<string, string>>(prefix: string, initial: F, opts: {
  /** The form field an API error path belongs to (`credentials.webhook_secret` → `webhook_secret`); the path itself by default. */
  fieldOf?: (apiField: string) => string | undefined;
} = {}) {
  const [fields, setFields] = useState(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [problem, setProblem] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const set = (k: keyof F) => (e: Event) => setFields({ ...fields, [k]: (e.target as HTMLInputElement).value });

  /** `send` posts the fields and returns what the form should hold next. */
  const submit = (send: (fields: F) => Promise<F>) => async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setProblem(null);
    try {
      setFields(await send(fields));
    } catch (err) {
      const apiErr = err as ApiError;
      const fieldErrors: Record<string, string> = {};
      for (const [path, message] of Object.entries(apiErr.fieldErrors?.() ?? {})) fieldErrors[opts.fieldOf?.(path) ?? path] ??= message;
      setErrors(fieldErrors);
      // Field errors show next to their fields; anything else as the problem itself.
      if (Object.keys(fieldErrors).filter((f) => f in fields).length === 0) setProblem(apiErr);
    } finally {
      setBusy(false);
    }
  };

  const id = (name: keyof F & string) => `${prefix}-${name}`;
  /** Props for a field's control: its id, and the error or hint it is described by. */
  const control = (name: keyof F & string) => ({
    id: id(name),
    name,
    'aria-invalid': errors[name] ? true : undefined,
    'aria-describedby': errors[name] ? `${id(name)}-error` : `${id(name)}-hint`,
  });

  // Render functions, not components: a component defined in a hook is a new type each render,
  // and Preact would remount the inputs (losing focus) on every keystroke.
  function field(name: keyof F & string, label: string, children: ComponentChildren, hint?: string) {
    return (
      <div class={`field ${errors[name] ? 'has-error' : ''}`}>
        <label for={id(name)}>{label}</label>
        {children}
        {errors[name]
          ? <small id={`${id(name)}-error`} class="field-error" role="alert">{errors[name]}</small>
          : hint && <small id={`${id(name)}-hint`} class="muted">{hint}</small>}
      </div>
    );
  }

  function form(title: string, action: string, onSubmit: (e: Event) => void, children: ComponentChildren): JSX.Element {
    return (
      <form class="card create-form" onSubmit={onSubmit} aria-labelledby={`${prefix}-create-title`} noValidate>
        <h2 id={`${prefix}-create-title`}>{title}</h2>
        <div class="fields">{children}</div>
        <ProblemBox error={problem} />
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Creating…' : action}</button>
      </form>
    );
  }

  return { fields, set, submit, control, field, form };
}
