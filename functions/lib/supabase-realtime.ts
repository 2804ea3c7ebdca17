/**
 * Supabase Realtime as a transport: the settings a client needs to connect, and the short-lived
 * JWTs it joins private channels with. Realtime verifies the JWT (it requires `role` and `exp`),
 * then runs our policy on realtime.messages as `role`, with the claims in `request.jwt.claims`:
 * the policy reads the tenant from `app_metadata.tenant_id` and checks that the key in `sub` is
 * still live (supabase/migrations/20261201233000_supabase_realtime.sql).
 *
 * Signed with jose (well kept, and the same code runs on Node, Workers and Deno's WebCrypto):
 * HS256 with the project's JWT secret, or ES256 with an imported signing key named by its `kid`.
 */
import { importJWK, SignJWT, type JWK } from 'jose';
import type { AppConfig } from '../deps.ts';

export interface SupabaseRealtimeSettings {
  url: string;
  anonKey: string;
  ttlS: number;
  sign(claims: Record<string, unknown>, exp: number): Promise<string>;
}

export function supabaseRealtimeSettings(c: AppConfig): SupabaseRealtimeSettings | null {
  if (!c.SUPABASE_URL || !c.SUPABASE_ANON_KEY || (!c.SUPABASE_JWT_SECRET && !c.SUPABASE_JWT_PRIVATE_KEY)) return null;
  let key: Promise<{ alg: 'HS256' | 'ES256'; kid?: string; key: CryptoKey | Uint8Array }>;
  if (c.SUPABASE_JWT_PRIVATE_KEY) {
    const jwk = JSON.parse(c.SUPABASE_JWT_PRIVATE_KEY) as JWK & { kid: string };
    key = importJWK(jwk, 'ES256').then((k) => ({ alg: 'ES256' as const, kid: jwk.kid, key: k as CryptoKey }));
  } else {
    key = Promise.resolve({ alg: 'HS256' as const, key: new TextEncoder().encode(c.SUPABASE_JWT_SECRET!) });
  }
  return {
    url: c.SUPABASE_URL.replace(/\/+$/, ''),
    anonKey: c.SUPABASE_ANON_KEY,
    ttlS: c.SWITCHYARD_REALTIME_TOKEN_TTL_S,
    async sign(claims, exp) {
      const k = await key;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: k.alg, typ: 'JWT', ...(k.kid ? { kid: k.kid } : {}) })
        .setIssuedAt()
        .setExpirationTime(exp)
        .sign(k.key);
    },
  };
}
