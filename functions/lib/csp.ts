/**
 * The dashboard's Content-Security-Policy, the same from every entry (Node serves index.html
 * itself; on Workers the Worker runs first for it, infra/wrangler.toml). It talks to its own
 * origin only, and to the Supabase Realtime websocket when that is this deployment's transport:
 * the policy names exactly that origin, not every *.supabase.co.
 */
export function dashboardCsp(supabaseUrl?: string): string {
  const connect = ["'self'"];
  if (supabaseUrl) {
    const u = new URL(supabaseUrl);
    connect.push(`${u.protocol === 'http:' ? 'ws' : 'wss'}://${u.host}`);
  }
  return [
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", `connect-src ${connect.join(' ')}`,
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'",
  ].join('; ');
}
