/** API key minting: the secret is returned once; only its hash and a display prefix are kept. */
import { randomToken, sha256Hex } from '../../core/crypto.ts';
import { newId } from '../../core/ids.ts';

export async function mintApiKey() {
  const secret = `sk_${randomToken(40)}`;
  return { id: newId('key'), secret, hash: await sha256Hex(secret), prefix: secret.slice(0, 11) };
}
