/**
 * Which addresses tenant-given URLs may reach. Every address is normalized to its bytes first, so
 * the forms that embed an IPv4 address in IPv6 (mapped `::ffff:a.b.c.d` and its hex spelling
 * `::ffff:7f00:1`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4
 * `2002::/16`) are judged by the IPv4 address inside. Numeric IPv4 spellings (`2130706433`,
 * `0x7f.1`, `127.1`) are turned into dotted quads by the WHATWG URL parser before they get here;
 * `parseIPv4` accepts them too, for addresses that don't come through a URL.
 *
 * Ranges: IANA's special-purpose registries (RFC 6890 and its updates), everything not globally
 * reachable. Teredo (`2001::/32`) is refused whole: its IPv4 part is obfuscated and it reaches
 * arbitrary hosts through a relay.
 */

/** The four bytes of an IPv4 address in any inet_aton spelling (dotted, hex, octal, fewer parts), or null. */
export function parseIPv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length < 1 || parts.length > 4 || parts.some((p) => p === '')) return null;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]*$/i.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]+$/.test(p)) n = parseInt(p, 8);
    else if (/^(0|[1-9]\d*)$/.test(p)) n = Number(p);
    else return null;
    if (!Number.isFinite(n)) return null;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return null;
  const tail: number[] = [];
  for (let i = 0, v = last; i < 4 - nums.length; i++, v = Math.floor(v / 256)) tail.unshift(v % 256);
  return [...nums, ...tail];
}

/** The sixteen bytes of an IPv6 address (brackets, a zone id and an embedded dotted quad allowed), or null. */
export function parseIPv6(text: string): number[] | null {
  let s = text.replace(/^\[|\]$/g, '').toLowerCase();
  const zone = s.indexOf('%');
  if (zone !== -1) s = s.slice(0, zone);
  if (!s.includes(':')) return null;
  let tailV4: number[] | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const quad = s.slice(lastColon + 1);
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(quad)) return null;
    tailV4 = quad.split('.').map(Number);
    if (tailV4.some((n) => n > 255)) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const group = (h: string) => (h === '' ? [] : h.split(':'));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    const v = parseInt(g, 16);
    bytes.push(v >> 8, v & 255);
  }
  if (tailV4) bytes.splice(12, 4, ...tailV4);
  return bytes;
}

function v4Reason([a, b, c]: number[]): string | null {
  if (a === 0) return 'this network (0.0.0.0/8)';
  if (a === 10) return 'private (10.0.0.0/8)';
  if (a === 100 && b! >= 64 && b! <= 127) return 'shared address space (100.64.0.0/10)';
  if (a === 127) return 'loopback (127.0.0.0/8)';
  if (a === 169 && b === 254) return 'link-local (169.254.0.0/16)';
  if (a === 172 && b! >= 16 && b! <= 31) return 'private (172.16.0.0/12)';
  if (a === 192 && b === 0 && (c === 0 || c === 2)) return 'special-purpose (192.0.0.0/24, 192.0.2.0/24)';
  if (a === 192 && b === 88 && c === 99) return '6to4 relay anycast (192.88.99.0/24)';
  if (a === 192 && b === 168) return 'private (192.168.0.0/16)';
  if (a === 198 && (b === 18 || b === 19)) return 'benchmarking (198.18.0.0/15)';
  if (a === 198 && b === 51 && c === 100) return 'documentation (198.51.100.0/24)';
  if (a === 203 && b === 0 && c === 113) return 'documentation (203.0.113.0/24)';
  if (a! >= 224) return 'multicast or reserved (224.0.0.0/3)';
  return null;
}

function v6Reason(b: number[]): string | null {
  const zero = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  if (zero(0, 16)) return 'unspecified (::)';
  if (zero(0, 15) && b[15] === 1) return 'loopback (::1)';
  const inner = (at: number) => v4Reason(b.slice(at, at + 4)) ?? 'public';
  if (zero(0, 10) && b[10] === 0xff && b[11] === 0xff) return inner(12) === 'public' ? null : `IPv4-mapped ${inner(12)}`;
  if (zero(0, 8) && b[8] === 0xff && b[9] === 0xff && zero(10, 12)) return `IPv4-translated (::ffff:0:0/96) ${inner(12)}`;
  if (zero(0, 12)) return inner(12) === 'public' ? 'IPv4-compatible (deprecated, ::/96)' : `IPv4-compatible ${inner(12)}`;
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b) {
    if (zero(4, 12)) return inner(12) === 'public' ? null : `NAT64 ${inner(12)}`;
    if (b[4] === 0 && b[5] === 1) return 'local-use NAT64 (64:ff9b:1::/48)';
  }
  if (b[0] === 0x20 && b[1] === 0x02) return inner(2) === 'public' ? null : `6to4 ${inner(2)}`;
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0 && b[3] === 0) return 'Teredo (2001::/32)';
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'documentation (2001:db8::/32)';
  if (b[0] === 0x01 && b[1] === 0x00 && zero(2, 8)) return 'discard-only (100::/64)';
  if ((b[0]! & 0xfe) === 0xfc) return 'unique local (fc00::/7)';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return 'link-local (fe80::/10)';
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0xc0) return 'site-local (fec0::/10)';
  if (b[0] === 0xff) return 'multicast (ff00::/8)';
  return null;
}

/** Why an IP address is not a public destination, or null when it is one. Anything unparseable is refused. */
export function nonPublicReason(ip: string): string | null {
  const v6 = parseIPv6(ip);
  if (v6) return v6Reason(v6);
  const v4 = parseIPv4(ip);
  if (v4) return v4Reason(v4);
  return 'not an IP address';
}

export function isPrivateAddress(ip: string): boolean {
  return nonPublicReason(ip) !== null;
}

/** A hostname as a resolver sees it: lowercase, no brackets, no trailing dots (`localhost.` is localhost). */
export function normalizeHost(hostname: string): string {
  return hostname.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.+$/, '');
}

/** True for an IP literal (after normalizeHost), in any spelling a resolver would accept. */
export function isIpLiteral(host: string): boolean {
  return parseIPv6(host) !== null || parseIPv4(host) !== null;
}

/** Names that only ever mean a local or internal host. */
export function isLocalName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local') || host.endsWith('.internal')
    || host.endsWith('.home.arpa') || host === 'metadata.google.internal' || !host.includes('.');
}
