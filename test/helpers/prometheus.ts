/**
 * Reading Prometheus's text exposition in tests, and finding Debian's promtool and prometheus
 * (`apt-get install prometheus`; .ci/run installs it).
 */
import { existsSync } from 'node:fs';

export interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of an exposition (comments skipped; label values unescaped). */
export function parseExposition(text: string): Series[] {
  const out: Series[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      }
    }
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

/** The value of the one series with this name and (at least) these labels; 0 when absent. */
export function valueOf(series: Series[], name: string, labels: Record<string, string> = {}): number {
  const hits = series.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} series match ${name} ${JSON.stringify(labels)}`);
  return hits[0]?.value ?? 0;
}

export function debianTool(name: 'promtool' | 'prometheus'): string {
  const path = process.env[name.toUpperCase() + '_PATH'] ?? `/usr/bin/${name}`;
  if (!existsSync(path)) {
    throw new Error(`no ${name} at ${path}: install Debian's prometheus package (apt-get install prometheus; .ci/run does) or set ${name.toUpperCase()}_PATH`);
  }
  return path;
}
