import { describe, expect, it } from 'vitest';
import { createBatcher } from './batch.ts';

/** A `run` whose batches finish only when the test says so, recording what each one got. */
function gatedRun() {
  const batches: { items: number[]; finish(): void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = (items: number[]) => new Promise<string[]>((resolve) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    batches.push({ items, finish: () => { running--; resolve(items.map((i) => `r${i}`)); } });
  });
  return { run, batches, maxRunning: () => maxRunning };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('createBatcher', () => {
  it('sends a lone item at once, on the next turn of the event loop', async () => {
    const g = gatedRun();
    const b = createBatcher({ run: g.run });
    const out = b.submit(1);
    await turn();
    expect(g.batches.map((x) => x.items)).toEqual([[1]]);
    g.batches[0]!.finish();
    expect(await out).toBe('r1');
  });

  it('holds items while the slots are busy and sends them together when one frees', async () => {
    const g = gatedRun();
    const b = createBatcher({ run: g.run, maxInFlight: 2 });
    const first = [b.submit(1), b.submit(2)];
    await turn();
    const second = b.submit(3);
    await turn();
    const waiting = [4, 5, 6, 7].map((i) => b.submit(i));
    await turn();
    // Two batches running; 4–7 wait.
    expect(g.batches.map((x) => x.items)).toEqual([[1, 2], [3]]);
    g.batches[0]!.finish();
    await turn();
    await turn();
    expect(g.batches.map((x) => x.items)).toEqual([[1, 2], [3], [4, 5, 6, 7]]);
    g.batches[1]!.finish();
    g.batches[2]!.finish();
    expect(await Promise.all([...first, second, ...waiting])).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
    expect(g.maxRunning()).toBe(2);
  });

  it('never runs more than maxInFlight batches, nor more than maxBatch items in one', async () => {
    let running = 0;
    let maxRunning = 0;
    const sizes: number[] = [];
    const b = createBatcher<number, number>({
      maxInFlight: 3,
      maxBatch: 10,
      async run(items) {
        running++;
        maxRunning = Math.max(maxRunning, running);
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        return items.map((i) => i * 2);
      },
    });
    const inputs = Array.from({ length: 500 }, (_, i) => i);
    const out = await Promise.all(inputs.map((i) => b.submit(i)));
    expect(out).toEqual(inputs.map((i) => i * 2));
    expect(maxRunning).toBe(3);
    expect(Math.max(...sizes)).toBe(10);
    expect(sizes.reduce((a, n) => a + n, 0)).toBe(500);
  });

  it('retries the items of a failed batch one by one, so only the bad one fails', async () => {
    const calls: number[][] = [];
    const b = createBatcher<number, string>({
      async run(items) {
        calls.push(items);
        if (items.includes(13)) throw new Error('13 is refused');
        return items.map((i) => `ok ${i}`);
      },
    });
    const out = await Promise.allSettled([12, 13, 14].map((i) => b.submit(i)));
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual(['ok 12', '13 is refused', 'ok 14']);
    expect(calls).toEqual([[12, 13, 14], [12], [13], [14]]);
  });

  it('treats a batch that returns the wrong number of results as failed', async () => {
    const b = createBatcher<number, number>({
      run: async (items) => (items.length > 1 ? [0] : [items[0]! + 1]),
    });
    expect(await Promise.all([1, 2, 3].map((i) => b.submit(i)))).toEqual([2, 3, 4]);
  });
});
