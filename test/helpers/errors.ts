/** Assertions about thrown errors, shared by the client tests. */
import { expect } from 'vitest';

/** The rejection of `p`, asserted to be an instance of `type`. */
export async function rejection<E extends Error>(p: Promise<unknown>, type: abstract new (...args: never[]) => E): Promise<E> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return err as E;
  }
  throw new Error('expected a rejection');
}

/** Every string reachable from an error: message, stack, properties, causes. For "no password anywhere" checks. */
export function allText(err: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  const walk = (v: unknown): void => {
    if (v === null || v === undefined || seen.has(v)) return;
    if (typeof v === 'string') parts.push(v);
    if (typeof v !== 'object') return;
    seen.add(v);
    if (v instanceof Error) parts.push(v.message, v.stack ?? '');
    for (const k of Object.getOwnPropertyNames(v)) walk((v as Record<string, unknown>)[k]);
  };
  walk(err);
  return parts.join('\n');
}
