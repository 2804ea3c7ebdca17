/**
 * What Supabase refuses, known before a request is accepted (reference §4): a project of an
 * organization on a paid plan can't be paused, and a Free project paused for more than 90 days
 * can't be restored. Read from what the provider recorded on the project (`provider_details`);
 * the worker still turns any refusal Supabase gives into a failed project with its own words.
 */
export const RESTORE_WINDOW_DAYS = 90;

export function supabaseRefusal(action: 'suspend' | 'resume', details: Record<string, unknown>, now = Date.now()): string | null {
  const plan = typeof details.organization_plan === 'string' ? details.organization_plan : null;
  if (action === 'suspend' && plan && plan !== 'free' && plan !== 'unknown') {
    return `Supabase can't pause a project of an organization on a paid plan (${String(details.organization ?? 'its organization')} is on ${plan}); transfer it to a Free organization first, or delete it`;
  }
  if (action === 'resume' && typeof details.paused_at === 'string') {
    const days = (now - Date.parse(details.paused_at)) / 86_400_000;
    if (days > RESTORE_WINDOW_DAYS && (plan === null || plan === 'free')) {
      return `Supabase can't restore a Free project paused more than ${RESTORE_WINDOW_DAYS} days ago (this one was paused on ${details.paused_at.slice(0, 10)}); download its backup from Supabase into a new project`;
    }
  }
  return null;
}
